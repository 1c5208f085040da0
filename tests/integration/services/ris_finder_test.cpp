// The real finder with a real RIS (issue 9 part 9): DCMTK's wlmscpfs serves the orders,
// Orthanc the studies, real PostgreSQL and nats-server from tests/run.sh. Orders are stored
// (GBK body part without a declared charset decoded), a STAT order raises its study's
// priority and the others stay routine; a RIS that is down or never answers costs only
// the RIS thread its timeouts: the PACS polls go on and every study is still queued.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <sstream>

#include "worklist_ris.hpp"
#include "orthanc.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

namespace {

std::string add_study(OrthancPacs& pacs, const fs::path& dir, const std::string& date, const std::string& time) {
  return add_dated_study(pacs, dir / (date + "-" + time), date, time, "CT");
}

// A TCP port that accepts connections (the kernel's backlog) and never answers: a hung RIS.
class HungPort {
 public:
  HungPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen");
    port_ = ntohs(a.sin_port);
  }
  ~HungPort() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

struct FinderRun {
  std::string log, metrics;
  std::map<std::string, std::pair<std::string, int>> studies;  // uid -> (state, priority)
  std::map<std::string, std::pair<std::string, std::string>> orders;  // accession -> (priority, body_parts)
  std::map<std::string, std::string> steps;  // "<accession> <step_key>" -> status, "+cancelled" when marked
};

// Runs the finder (local time 2026-03-15 12:00 in Shanghai) until `done` holds on the ledger
// or 60 s pass; returns what the ledger, the log and the metrics say.
FinderRun run_finder(const OrthancPacs& pacs, const fs::path& dir, uint16_t ris_port,
                     const std::function<bool(const FinderRun&)>& done) {
  TestDatabase db;
  uint16_t grpc = free_tcp_port(), metrics = free_tcp_port();
  fs::path config = dir / ("site-" + std::to_string(grpc) + ".yaml");
  {
    std::ofstream f(config);
    f << "site: ris\ntimezone: Asia/Shanghai\n"
      << "ledger: {url: \"" << db.url() << "\"}\n"
      << "bus: {url: \"" << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
      << "local: {storage_root: " << (dir / "store").string() << ", connect_timeout: 5s}\n"
      << "pacs:\n  - {name: main, ae_title: " << pacs.ae_title() << ", host: 127.0.0.1, port: " << pacs.dicom_port()
      << "}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
      << "finder: {poll_interval: 1s, crossday: 0, grpc_port: " << grpc << ", metrics_port: " << metrics << "}\n"
      << "ris: {name: ris, ae_title: RIS, host: 127.0.0.1, port: " << ris_port
      << ", poll_interval: 1s, window_days: 0, timeout: 2s}\n";
  }
  fs::path log = dir / ("finder-" + std::to_string(grpc) + ".log");
  auto p = ChildProcess::spawn({bin("pacspull-finder").string(), "--config", config.string()},
                               {{"PACSPULL_FAKE_NOW", "2026-03-15T04:00:00Z"}, {"PACSPULL_TEST_HOOKS", "1"}}, log);
  FinderRun run;
  auto read_ledger = [&] {
    pqxx::connection c(db.url());
    pqxx::read_transaction t(c);
    run.studies.clear();
    run.orders.clear();
    for (const auto& r : t.exec("SELECT study_uid, state, priority FROM studies"))
      run.studies[r[0].c_str()] = {r[1].c_str(), r[2].as<int>()};
    if (t.exec1("SELECT to_regclass('ris_orders') IS NOT NULL")[0].as<bool>())
      for (const auto& r : t.exec("SELECT accession, priority, body_parts FROM ris_orders"))
        run.orders[r[0].c_str()] = {r[1].c_str(), r[2].c_str()};
    run.steps.clear();
    if (t.exec1("SELECT to_regclass('ris_order_steps') IS NOT NULL")[0].as<bool>())
      for (const auto& r : t.exec("SELECT accession || ' ' || step_key, status || CASE WHEN cancelled_at IS NULL THEN '' "
                                  "ELSE '+cancelled' END FROM ris_order_steps"))
        run.steps[r[0].c_str()] = r[1].c_str();
  };
  bool ok = wait_for(
      [&] {
        run.log = read_file(log);
        try {
          read_ledger();
        } catch (const std::exception&) {
          return false;  // not migrated yet
        }
        return done(run);
      },
      std::chrono::seconds(60), std::chrono::milliseconds(200));
  fs::path scrape = dir / ("metrics-" + std::to_string(grpc) + ".txt");
  run_command({"curl", "-s", "-m", "5", "http://127.0.0.1:" + std::to_string(metrics) + "/metrics"},
              std::chrono::seconds(10), scrape);
  run.metrics = read_file(scrape);
  p.signal(SIGTERM);
  int rc = p.wait(std::chrono::seconds(30));
  read_ledger();
  run.log = read_file(log);
  INFO(run.log);
  CHECK(ok);
  CHECK(rc == 0);
  return run;
}

// pacspull_finder_ris_errors_total{ris="ris"} from a scrape, -1 when absent.
double ris_errors(const std::string& scrape) {
  std::istringstream lines(scrape);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("pacspull_finder_ris_errors_total{", 0) == 0 && line.find("ris=\"ris\"") != std::string::npos)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

bool all_queued(const FinderRun& r, const std::vector<std::string>& uids) {
  for (const auto& u : uids) {
    auto it = r.studies.find(u);
    if (it == r.studies.end() || it->second.first == "found") return false;
  }
  return true;
}

}  // namespace

TEST_CASE("The finder stores RIS orders and a STAT order raises its study's priority", "[ris][integration]") {
  fs::path dir = make_temp_dir("pacspull-ris-finder");
  OrthancPacs pacs(dir / "pacs", "RISPACS", {});
  const std::string routine = add_study(pacs, dir, "20260315", "080000");
  const std::string stat = add_study(pacs, dir, "20260315", "090000");
  const std::string no_order = add_study(pacs, dir, "20260315", "100000");

  WorklistRis ris(dir / "ris", "RIS");
  WorklistEntry r1{.accession = "ACC20260315080000", .patient_id = "P1"};
  r1.procedure_description = "\xD0\xD8\xB2\xBF" "CT";  // "胸部CT" in GBK, undeclared
  r1.date = "20260315";
  WorklistEntry r2{.accession = "ACC20260315090000", .patient_id = "P2", .procedure_description = "CT CHEST"};
  r2.date = "20260315";
  r2.priority = "STAT";
  ris.add(r1);
  ris.add(r2);
  ris.start();

  FinderRun run = run_finder(pacs, dir, ris.port(), [&](const FinderRun& r) {
    return all_queued(r, {routine, stat, no_order}) && r.orders.size() == 2 &&
           r.studies.count(stat) && r.studies.at(stat).second == 2;
  });
  INFO(run.log);
  REQUIRE(run.orders.size() == 2);
  CHECK(run.orders["ACC20260315080000"].second == "胸部CT");
  CHECK(run.orders["ACC20260315090000"].first == "STAT");
  CHECK(run.studies[stat].second == 2);      // PRIORITY_URGENT: moved, then dispatched, first
  CHECK(run.studies[routine].second == 1);
  CHECK(run.studies[no_order].second == 1);  // no order: not waited for, routine
  CHECK_THAT(run.log, Catch::Contains("finder: RIS ris: 2 orders"));
}

TEST_CASE("A RIS that is down or hangs never blocks the PACS polls", "[ris][integration]") {
  fs::path dir = make_temp_dir("pacspull-ris-down");
  OrthancPacs pacs(dir / "pacs", "RISPACS", {});
  const std::string a = add_study(pacs, dir, "20260315", "080000");
  const std::string b = add_study(pacs, dir, "20260315", "090000");

  HungPort hung;
  const uint16_t closed = free_tcp_port();  // nothing listens there: a stopped RIS
  for (uint16_t port : {closed, hung.port()}) {
    INFO("RIS port " << port << (port == closed ? " (stopped)" : " (hangs)"));
    FinderRun run = run_finder(pacs, dir, port, [&](const FinderRun& r) {
      return all_queued(r, {a, b}) && r.log.find("finder: RIS ris: worklist query") != std::string::npos;
    });
    INFO(run.log);
    CHECK(all_queued(run, {a, b}));
    CHECK(run.orders.empty());
    CHECK_THAT(run.log, Catch::Contains("finder: RIS ris: worklist query 20260315 failed"));
    INFO(run.metrics);
    CHECK(ris_errors(run.metrics) >= 1);
  }
}

TEST_CASE("A procedure step the RIS cancels between two polls leaves the merged order", "[ris][integration]") {
  fs::path dir = make_temp_dir("pacspull-ris-cancel");
  OrthancPacs pacs(dir / "pacs", "RISPACS", {});
  const std::string study = add_study(pacs, dir, "20260315", "080000");
  const std::string accession = "ACC20260315080000";

  WorklistRis ris(dir / "ris", "RIS");
  WorklistEntry chest{.accession = accession, .patient_id = "P1", .procedure_description = "CT CHEST"};
  chest.date = "20260315";
  chest.step_id = "SPS1";
  chest.status = "SCHEDULED";
  WorklistEntry abdomen{.accession = accession, .patient_id = "P1"};
  abdomen.procedure_description = "\xB8\xB9\xB2\xBF" "CT";  // "腹部CT" in GBK, undeclared
  abdomen.date = "20260315";
  abdomen.priority = "STAT";
  abdomen.step_id = "SPS2";
  abdomen.status = "SCHEDULED";
  ris.add(chest);
  ris.add(abdomen);
  ris.start();

  // First the two steps merge (STAT, both body parts); then the RIS cancels the abdomen step
  // (its worklist file rewritten while the finder keeps polling every second) and the next
  // poll's merge loses it.
  bool cancelled = false;
  std::string merged_before;
  FinderRun run = run_finder(pacs, dir, ris.port(), [&](const FinderRun& r) {
    auto it = r.orders.find(accession);
    if (it == r.orders.end()) return false;
    if (!cancelled) {
      if (it->second.first != "STAT") return false;
      merged_before = it->second.second;
      abdomen.status = "CANCELED";
      ris.add(abdomen);
      cancelled = true;
      return false;
    }
    if (it->second.first != "ROUTINE" || !all_queued(r, {study})) return false;
    // `pullctl why` on the same ledger (the finder's site file) while it still exists.
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().rfind("site-", 0) == 0)
        run_command({bin("pullctl").string(), "--config", e.path().string(), "why", accession}, std::chrono::seconds(60),
                    dir / "why.txt");
    return true;
  });
  INFO(run.log);
  CHECK(merged_before == "CT CHEST | 腹部CT");
  REQUIRE(run.orders.count(accession) == 1);
  CHECK(run.orders[accession].first == "ROUTINE");
  CHECK(run.orders[accession].second == "CT CHEST");  // the cancelled step's body part is gone
  CHECK(run.steps[accession + " RP-" + accession + "/SPS1"] == "SCHEDULED");
  CHECK(run.steps[accession + " RP-" + accession + "/SPS2"] == "CANCELED+cancelled");  // kept, marked
  CHECK_THAT(run.log, Catch::Contains("2 procedure steps, 1 of them cancelled"));
  const std::string why = read_file(dir / "why.txt");
  INFO(why);
  CHECK_THAT(why, Catch::Contains("RIS order " + accession + " from ris: priority ROUTINE, body parts \"CT CHEST\""));
  CHECK_THAT(why, Catch::Contains("1 procedure step\n"));
  CHECK_THAT(why, Catch::Contains("step RP-" + accession + "/SPS2 cancelled (CANCELED, seen ") &&
                      Catch::Contains("body parts \"腹部CT\", priority STAT: not merged"));
}
