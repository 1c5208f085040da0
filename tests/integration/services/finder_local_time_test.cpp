// The real finder at 00:30 local time against a real Orthanc: the night's studies are
// found at once (issue 6, part 3), and with OT enabled in the rules the finder queries OT
// without being told (part 5). The finder's clock is set through the PACSPULL_FAKE_NOW
// test hook (with PACSPULL_TEST_HOOKS=1, runtime/clock.hpp); real PostgreSQL and
// nats-server from tests/run.sh.
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <set>

#include "orthanc.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

namespace {

// One study in Orthanc, uploaded; returns its StudyInstanceUID.
std::string add_study(OrthancPacs& pacs, const fs::path& dir, const std::string& date, const std::string& time,
                      const std::string& modality) {
  return add_dated_study(pacs, dir / (date + "-" + time + "-" + modality), date, time, modality);
}

struct Row {
  std::string study_date;
  long long exam_time = 0, first_seen = 0;
};

std::map<std::string, Row> studies(const std::string& url) {
  pqxx::connection c(url);
  pqxx::read_transaction t(c);
  std::map<std::string, Row> out;
  for (const auto& r : t.exec("SELECT study_uid, study_date, extract(epoch FROM exam_time)::bigint, "
                              "extract(epoch FROM first_seen_at)::bigint FROM studies"))
    out[r[0].c_str()] = Row{r[1].c_str(), r[2].is_null() ? 0 : r[2].as<long long>(), r[3].as<long long>()};
  return out;
}

struct Run {
  std::string timezone;
  std::string fake_now;  // UTC instant
  std::string finder_extra;
  std::string log;
  std::map<std::string, Row> found;
};

// Starts the finder with `run`'s zone and clock, waits until every study of `expect` is in
// the ledger (or the deadline passes), stops it, and returns what the ledger holds.
void run_finder(const OrthancPacs& pacs, const fs::path& dir, Run& run, const std::set<std::string>& expect) {
  TestDatabase db;
  uint16_t grpc = free_tcp_port(), metrics = free_tcp_port();
  fs::path config = dir / ("site-" + std::to_string(grpc) + ".yaml");
  {
    std::ofstream f(config);
    f << "site: local-time\n"
      << "timezone: " << run.timezone << "\n"
      << "ledger: {url: \"" << db.url() << "\"}\n"
      << "bus: {url: \"" << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
      << "local: {storage_root: " << (dir / "store").string() << ", connect_timeout: 5s}\n"
      << "pacs:\n  - {name: main, ae_title: " << pacs.ae_title() << ", host: 127.0.0.1, port: " << pacs.dicom_port()
      << "}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
      << "finder: {poll_interval: 1s, crossday: -1, grpc_port: " << grpc << ", metrics_port: " << metrics
      << run.finder_extra << "}\n"
      << "rules: {dx: {enabled_modalities: [DX, DR, CR, OT]}}\n";
  }
  fs::path log = dir / ("finder-" + std::to_string(grpc) + ".log");
  auto p = ChildProcess::spawn({bin("pacspull-finder").string(), "--config", config.string()},
                               {{"PACSPULL_FAKE_NOW", run.fake_now}, {"PACSPULL_TEST_HOOKS", "1"}}, log);
  bool all = wait_for(
      [&] {
        if (read_file(log).find("poll done") == std::string::npos) return false;
        run.found = studies(db.url());
        for (const auto& uid : expect)
          if (!run.found.count(uid)) return false;
        return true;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(200));
  p.signal(SIGTERM);
  int rc = p.wait(std::chrono::seconds(30));
  run.log = read_file(log);
  run.found = studies(db.url());
  INFO(run.log);
  CHECK(all);
  CHECK(rc == 0);
}

// Seconds since the epoch of a UTC date and time (hours may run past 23).
long long epoch_of(int y, unsigned mo, unsigned d, int h, int mi) {
  using namespace std::chrono;
  return duration_cast<seconds>((sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi)).time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("At 00:30 local in Shanghai and Moscow the finder finds the night's studies, OT included") {
  fs::path dir = make_temp_dir("pacspull-localtime");
  OrthancPacs pacs(dir / "pacs", "TZPACS", {});
  // Fake "now" is 2026-03-15 00:30 local in both zones.
  const std::string tonight = add_study(pacs, dir, "20260315", "002000", "CT");       // 00:20 tonight
  const std::string lagging = add_study(pacs, dir, "20260314", "163000", "CT");       // same night, clock 8 h behind
  const std::string film = add_study(pacs, dir, "20260315", "001000", "OT");          // external chest film, tonight
  const std::string too_old = add_study(pacs, dir, "20260313", "120000", "CT");       // day before yesterday
  REQUIRE(pacs.instance_count() == 4);

  struct Zone {
    std::string name, fake_now;
    int offset_hours;
  };
  for (const Zone& z : {Zone{"Asia/Shanghai", "2026-03-14T16:30:00Z", 8}, Zone{"Europe/Moscow", "2026-03-14T21:30:00Z", 3}}) {
    INFO(z.name);
    Run run{z.name, z.fake_now, "", "", {}};
    run_finder(pacs, dir, run, {tonight, lagging, film});
    INFO(run.log);
    CHECK(run.found.count(tonight) == 1);
    CHECK(run.found.count(lagging) == 1);
    CHECK(run.found.count(film) == 1);  // OT queried because the rules enable it
    CHECK(run.found.count(too_old) == 0);
    CHECK_THAT(run.log, Catch::Contains("poll done (StudyDate 20260314-20260315, " + z.name + " local time 2026-03-15 00:3"));
    CHECK_THAT(run.log, Catch::Contains("CT, DX, DR, CR, OT (from the rules)"));
    // Exam times are the local wall clock converted with the zone: tonight's study is
    // 10 minutes before "now" (not hours in the future), the lagging device's is 8 h
    // earlier than it really happened, and both order before "now".
    const long long fake = epoch_of(2026, 3, 14, 24 - z.offset_hours, 30);
    CHECK(run.found[tonight].exam_time == fake - 600);
    CHECK(run.found[film].exam_time == fake - 1200);
    CHECK(run.found[lagging].exam_time == epoch_of(2026, 3, 14, 16 - z.offset_hours, 30));
    CHECK(run.found[lagging].exam_time < run.found[tonight].exam_time);
    // The ledger's timestamps come from the service's clock, not the database's.
    CHECK(run.found[tonight].first_seen >= fake);
    CHECK(run.found[tonight].first_seen < fake + 300);
  }
}

TEST_CASE("Control: a UTC window and the old explicit modality list miss the night's studies, with a warning") {
  fs::path dir = make_temp_dir("pacspull-localtime-utc");
  OrthancPacs pacs(dir / "pacs", "TZPACS", {});
  const std::string tonight = add_study(pacs, dir, "20260315", "002000", "CT");
  const std::string lagging = add_study(pacs, dir, "20260314", "163000", "CT");
  const std::string film = add_study(pacs, dir, "20260315", "001000", "OT");
  const std::string older = add_study(pacs, dir, "20260313", "120000", "CT");
  // The same instant read in UTC (what the finder did before): the window is
  // [20260313, 20260314] until 08:00 local.
  Run run{"UTC", "2026-03-14T16:30:00Z", ", modalities: [CT, DX, CR, DR]", "", {}};
  run_finder(pacs, dir, run, {lagging, older});
  INFO(run.log);
  CHECK(run.found.count(tonight) == 0);
  CHECK(run.found.count(film) == 0);
  CHECK_THAT(run.log, Catch::Contains("poll done (StudyDate 20260313-20260314, UTC"));
  CHECK_THAT(run.log, Catch::Contains("the rules enable OT (rules.dx.enabled_modalities) but finder.modalities does "
                                      "not query it"));
}

TEST_CASE("An unknown time zone or a malformed PACSPULL_FAKE_NOW stops the finder with exit code 2") {
  fs::path dir = make_temp_dir("pacspull-localtime-bad");
  auto site = [&](const std::string& zone) {
    fs::path p = dir / "site.yaml";
    std::ofstream f(p);
    f << "site: bad-zone\ntimezone: " << zone << "\nledger: {url: \"postgresql://postgres@127.0.0.1:1/none\"}\n"
      << "bus: {url: \"nats://127.0.0.1:1\"}\npacs:\n  - {name: p, ae_title: P, host: 127.0.0.1, port: 1}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n";
    return p;
  };
  fs::path log = dir / "finder.log";
  CHECK(run_command({bin("pacspull-finder").string(), "--config", site("Asia/Shangai").string()},
                    std::chrono::seconds(30), log) == 2);
  CHECK_THAT(read_file(log), Catch::Contains("site.yaml:2: 'timezone': unknown time zone 'Asia/Shangai'"));
  fs::remove(log);
  CHECK(run_command({bin("pacspull-finder").string(), "--config", site("Asia/Shanghai").string()},
                    std::chrono::seconds(30), log, {{"PACSPULL_FAKE_NOW", "tonight"}, {"PACSPULL_TEST_HOOKS", "1"}}) == 2);
  CHECK_THAT(read_file(log), Catch::Contains("PACSPULL_FAKE_NOW 'tonight' is not an instant"));
  fs::remove(log);
  CHECK(run_command({bin("pacspull-finder").string(), "--config", site("Asia/Shanghai").string()},
                    std::chrono::seconds(30), log, {{"PACSPULL_FAKE_NOW", "2026-03-14T16:30:00Z"}}) == 2);
  CHECK_THAT(read_file(log), Catch::Contains("PACSPULL_TEST_HOOKS=1 is not"));
}
