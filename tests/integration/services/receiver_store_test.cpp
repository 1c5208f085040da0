// The receiver's store life cycle, with the real pacspull-receiver binary, real PostgreSQL
// (a fresh database) and nats-server (tests/run.sh), DCMTK's storescu as the PACS:
// - files of settled studies leave the store (deletion after hand-off, retention), the
//   ledger keeps the rows; studies in the pipeline, reopened or with a pending dispatch stay;
// - a starting receiver removes only stale temp files, never another receiver's in flight;
// - the storage cap (a small tmpfs, skipped when mounting is not permitted): above the high
//   watermark every C-STORE gets 0xA700, at or below the low one it resumes;
// - SIGTERM drains: every instance storescu got Success for is on disk and in the ledger.
#include <catch2/catch.hpp>
#include <sys/mount.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "peers.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

fs::path source_dir() { return fs::path(env_or("PACSPULL_SOURCE_DIR", ".")); }

struct Instance {
  fs::path file;
  std::string study, series, sop;
};

// make_instances.py: one line per file, "<path> <study> <series> <sop>".
std::vector<Instance> make_instances(const fs::path& out, const std::string& prefix, int studies, int instances) {
  const fs::path log = out.parent_path() / (prefix + "-make.log");
  int rc = run_command({"/usr/bin/python3", (source_dir() / "tests/integration/dicom/make_instances.py").string(),
                        out.string(), "--studies", std::to_string(studies), "--instances", std::to_string(instances),
                        "--prefix", prefix},
                       std::chrono::minutes(2), log);
  INFO(read_file(log));
  REQUIRE(rc == 0);
  std::vector<Instance> all;
  std::istringstream in(read_file(log));
  for (Instance i; in >> i.file >> i.study >> i.series >> i.sop;) all.push_back(i);
  REQUIRE(all.size() == static_cast<size_t>(studies * instances));
  return all;
}

std::string hostname() {
  char name[256] = {0};
  ::gethostname(name, sizeof name - 1);
  return name;
}

struct Receiver {
  fs::path dir, store, log, config;
  uint16_t dicom_port = 0, metrics_port = 0;
  ChildProcess process;
};

void write_config(Receiver& r, const TestDatabase& db, const std::string& receiver_extra) {
  r.dicom_port = free_tcp_port();
  r.metrics_port = free_tcp_port();
  std::ofstream f(r.config);
  f << "site: receiver-store\nledger: {url: \"" << db.url() << "\"}\n"
    << "bus: {url: \"" << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
    << "local: {ae_title: PACSPULL, receiver_ae_title: PACSPULL, storage_root: " << r.store.string()
    << ", connect_timeout: 5s}\n"
    << "pacs:\n  - {name: nowhere, ae_title: NOPACS, host: 127.0.0.1, port: 1}\n"
    << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
    << "receiver: {dicom_port: " << r.dicom_port << ", grpc_port: " << free_tcp_port()
    << ", metrics_port: " << r.metrics_port << receiver_extra
    // storescu stands in for a PACS that is not in pacs: (issue 11: callers are allowed by name)
    << ", allowed_callers: [TESTPACS], accept_unsolicited: true}\n";
}

void start(Receiver& r) {
  r.process = ChildProcess::spawn({bin("pacspull-receiver").string(), "--config", r.config.string()}, {}, r.log);
  REQUIRE(wait_for([&] { return tcp_port_open(r.dicom_port) || !r.process.running(); }, 60s));
  INFO(read_file(r.log));
  REQUIRE(r.process.running());
}

// storescu, one association for all files; returns SOP instance UID -> "Success" or the
// failure it reported (storescu -v: "Sending file: X" ... "Received Store Response (...)").
std::map<std::string, std::string> send(const Receiver& r, const std::vector<Instance>& files, const fs::path& log,
                                        std::chrono::seconds deadline = 120s) {
  std::vector<std::string> argv{"storescu", "-v", "-aet", "TESTPACS", "-aec", "PACSPULL", "-to", "10", "-ta", "10",
                                "-td", "30", "127.0.0.1", std::to_string(r.dicom_port)};
  std::map<std::string, std::string> sop_of;
  for (const auto& i : files) {
    argv.push_back(i.file.string());
    sop_of[i.file.string()] = i.sop;
  }
  run_command(argv, deadline, log, dicom_tool_env());
  std::map<std::string, std::string> out;
  std::istringstream in(read_file(log));
  std::string line, current;
  while (std::getline(in, line)) {
    if (auto at = line.find("Sending file: "); at != std::string::npos) current = line.substr(at + 14);
    if (auto at = line.find("Received Store Response"); at != std::string::npos && sop_of.count(current))
      out[sop_of[current]] = line.find("(Success)") != std::string::npos ? "Success" : line.substr(at);
  }
  return out;
}

long long count(pqxx::connection& c, const std::string& sql) {
  pqxx::work w(c);
  return w.exec1(sql)[0].as<long long>();
}

void exec(pqxx::connection& c, const std::string& sql) {
  pqxx::work w(c);
  w.exec(sql);
  w.commit();
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file()) out.push_back(it->path());
  return out;
}

fs::path write_temp(const fs::path& incoming, const std::string& name, std::chrono::hours age) {
  const fs::path p = incoming / name;
  std::ofstream(p) << "half-written";
  if (age.count() > 0) fs::last_write_time(p, fs::file_time_type::clock::now() - age);
  return p;
}

}  // namespace

TEST_CASE("Files of settled studies leave the store, the ledger keeps them; temp files of others survive a start",
          "[receiver][storage]") {
  TestDatabase db;
  Receiver r;
  r.dir = make_temp_dir("pacspull-receiver-store");
  r.store = r.dir / "store";
  r.log = r.dir / "receiver.log";
  r.config = r.dir / "site.yaml";
  write_config(r, db, ", retention: 1h");

  // Temp files in the shared .incoming before the receiver starts.
  const fs::path incoming = r.store / ".incoming";
  fs::create_directories(incoming);
  ChildProcess gone = ChildProcess::spawn({"true"});
  const pid_t dead = gone.pid();
  gone.wait(10s);
  const std::string me = hostname();
  const fs::path ours_dead = write_temp(incoming, "rx-" + me + "-" + std::to_string(dead) + "-00000000000000aa-3.tmp", 0h);
  const fs::path sibling_alive =
      write_temp(incoming, "rx-" + me + "-" + std::to_string(::getpid()) + "-00000000000000bb-4.tmp", 0h);
  const fs::path other_host = write_temp(incoming, "rx-other-pod-7-00000000000000cc-5.tmp", 0h);
  const fs::path other_stale = write_temp(incoming, "rx-other-pod-7-00000000000000dd-6.tmp", 2h);
  const fs::path old_layout = write_temp(incoming, "rx-12-3.tmp", 0h);

  start(r);
  CHECK_FALSE(fs::exists(ours_dead));    // this host, writer gone
  CHECK(fs::exists(sibling_alive));      // this host, writer alive: another receiver in flight
  CHECK(fs::exists(other_host));         // another host, fresh
  CHECK_FALSE(fs::exists(other_stale));  // another host, older than stale_temp_age
  CHECK(fs::exists(old_layout));         // unknown writer, fresh
  for (const auto& p : {sibling_alive, other_host, old_layout}) fs::remove(p);

  // Five studies of two instances: A dispatched, B dispatch pending, C pulling, D unsupported
  // just now (retention 1h), E failed two hours ago.
  const auto inst = make_instances(r.dir / "in", "life", 5, 2);
  auto answers = send(r, inst, r.dir / "storescu-1.log");
  for (const auto& i : inst) REQUIRE(answers[i.sop] == "Success");
  std::vector<std::string> study;
  for (size_t k = 0; k < inst.size(); k += 2) study.push_back(inst[k].study);
  pqxx::connection c(db.url());
  REQUIRE(count(c, "SELECT count(*) FROM instances WHERE deleted_at IS NULL") == 10);
  // Every written C-STORE is timed by stage (observed just after its response is sent).
  const fs::path metrics = r.dir / "metrics.txt";
  auto timed_all = [&] {
    fs::remove(metrics);
    run_command({"curl", "-s", "http://127.0.0.1:" + std::to_string(r.metrics_port) + "/metrics"}, 10s, metrics);
    const std::string text = read_file(metrics);
    for (const char* stage : {"receive", "sync", "place", "dir_sync", "commit", "respond"})
      if (text.find(std::string("pacspull_receiver_stage_seconds_count{stage=\"") + stage + "\"} 10\n") ==
          std::string::npos)
        return false;
    return true;
  };
  CHECK(wait_for(timed_all, 10s, 100ms));
  auto q = [&](const std::string& s) { return "'" + s + "'"; };
  exec(c, "UPDATE studies SET state = 'completed', generation = 1, dispatched_generation = 1 WHERE study_uid = " +
              q(study[0]));
  exec(c, "INSERT INTO dispatches (study_uid, generation, series_uids, status, sent_at) VALUES (" + q(study[0]) +
              ", 1, '{}', 'sent', now())");
  exec(c, "UPDATE studies SET state = 'completed', generation = 2, dispatched_generation = 2 WHERE study_uid = " +
              q(study[1]));
  exec(c, "INSERT INTO dispatches (study_uid, generation, series_uids, status, sent_at) VALUES (" + q(study[1]) +
              ", 1, '{}', 'sent', now()), (" + q(study[1]) + ", 2, '{}', 'pending', NULL)");
  exec(c, "UPDATE studies SET state = 'unsupported', generation = 1, dispatched_generation = 1 WHERE study_uid = " +
              q(study[3]));
  exec(c, "UPDATE studies SET state = 'failed', state_changed_at = now() - interval '2 hours' WHERE study_uid = " +
              q(study[4]));

  auto deleted = [&](const std::string& s) {
    return count(c, "SELECT count(*) FROM studies WHERE files_deleted_at IS NOT NULL AND study_uid = " + q(s)) == 1;
  };
  REQUIRE(wait_for([&] { return deleted(study[0]) && deleted(study[4]); }, 60s, 200ms));
  for (size_t k = 0; k < inst.size(); ++k) {
    const Instance& i = inst[k];
    // Each series' first image (the first sent) stays for filter explain/replay.
    const bool gone_expected = (i.study == study[0] || i.study == study[4]) && k % 2 == 1;
    INFO("study " << i.study << " sop " << i.sop);
    CHECK(count(c, "SELECT count(*) FROM instances WHERE sop_uid = " + q(i.sop)) == 1);  // the record stays
    CHECK(count(c, "SELECT count(*) FROM instances WHERE deleted_at IS NOT NULL AND sop_uid = " + q(i.sop)) ==
          (gone_expected ? 1 : 0));
    pqxx::work w(c);
    const fs::path path = w.exec1("SELECT path FROM instances WHERE sop_uid = " + q(i.sop))[0].c_str();
    CHECK(fs::exists(path) == !gone_expected);
  }
  for (size_t k : {1, 2, 3}) CHECK_FALSE(deleted(study[k]));
  CHECK(count(c, "SELECT count(*) FROM events WHERE kind = 'files-deleted'") == 2);

  // A deleted instance sent again is stored again (its row revived), then, the study being
  // still completed and dispatched, leaves the store again.
  std::vector<Instance> again{inst[0], inst[1]};
  answers = send(r, again, r.dir / "storescu-2.log");
  for (const auto& i : again) CHECK(answers[i.sop] == "Success");
  REQUIRE(wait_for(
      [&] {
        return count(c, "SELECT count(*) FROM events WHERE kind = 'files-deleted' AND study_uid = " + q(study[0])) == 2;
      },
      60s, 200ms));
  CHECK(files_under(r.store / study[0]).size() == 1);  // the series' first image
  CHECK(files_under(incoming).empty());
  CHECK(r.process.stop(40s) == 0);
}

TEST_CASE("Above the high watermark every C-STORE gets A700; at or below the low one the receiver resumes",
          "[receiver][storage]") {
  TestDatabase db;
  Receiver r;
  r.dir = make_temp_dir("pacspull-receiver-cap");
  r.store = r.dir / "store";
  r.log = r.dir / "receiver.log";
  r.config = r.dir / "site.yaml";
  fs::create_directories(r.store);
  if (::mount("tmpfs", r.store.c_str(), "tmpfs", 0, "size=32m") != 0) {
    WARN("skipped: cannot mount a 32 MB tmpfs at " << r.store << " (" << std::strerror(errno)
                                                    << "); run as root to test the storage cap");
    return;
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{r.store};
  write_config(r, db, ", storage_high_watermark: \"50%\", storage_low_watermark: \"30%\"");
  start(r);

  const auto inst = make_instances(r.dir / "in", "cap", 1, 6);
  CHECK(send(r, {inst[0]}, r.dir / "storescu-0.log")[inst[0].sop] == "Success");
  // A filler takes the store to ~62%: the receiver refuses within its 1 s check.
  const fs::path filler = r.store / "filler";
  {
    std::ofstream f(filler, std::ios::binary);
    std::string mb(1 << 20, 'x');
    for (int n = 0; n < 20; ++n) f << mb;
  }
  const fs::path metrics = r.dir / "metrics.txt";
  auto metric_line = [&](const std::string& line) {
    fs::remove(metrics);
    run_command({"curl", "-s", "http://127.0.0.1:" + std::to_string(r.metrics_port) + "/metrics"}, 10s, metrics);
    return read_file(metrics).find(line) != std::string::npos;
  };
  REQUIRE(wait_for([&] { return metric_line("pacspull_receiver_store_refusing 1"); }, 30s, 200ms));
  CHECK(metric_line("pacspull_receiver_store_free_bytes"));
  int attempt = 0;
  auto refused = send(r, {inst[1]}, r.dir / "storescu-full.log");
  CHECK(refused[inst[1].sop].find("OutOfResources") != std::string::npos);
  pqxx::connection c(db.url());
  CHECK(count(c, "SELECT count(*) FROM instances WHERE sop_uid = '" + inst[1].sop + "'") == 0);
  CHECK(files_under(r.store / ".incoming").empty());
  // Space returns: every instance is acknowledged, recorded and on disk.
  fs::remove(filler);
  std::map<std::string, std::string> answers;
  std::vector<Instance> rest(inst.begin() + 1, inst.end());
  REQUIRE(wait_for(
      [&] {
        answers = send(r, rest, r.dir / ("storescu-back-" + std::to_string(++attempt) + ".log"));
        return answers.size() == rest.size() &&
               std::all_of(answers.begin(), answers.end(), [](const auto& a) { return a.second == "Success"; });
      },
      30s, 200ms));
  CHECK(count(c, "SELECT count(*) FROM instances WHERE deleted_at IS NULL") == 6);
  for (const auto& i : inst) {
    pqxx::work w(c);
    CHECK(fs::exists(w.exec1("SELECT path FROM instances WHERE sop_uid = '" + i.sop + "'")[0].c_str()));
  }
  CHECK(r.process.stop(40s) == 0);
}

TEST_CASE("SIGTERM drains: every instance answered Success is on disk and in the ledger, nothing half-written",
          "[receiver][drain]") {
  TestDatabase db;
  Receiver r;
  r.dir = make_temp_dir("pacspull-receiver-drain");
  r.store = r.dir / "store";
  r.log = r.dir / "receiver.log";
  r.config = r.dir / "site.yaml";
  write_config(r, db, ", drain_grace: 2s");
  start(r);
  const auto inst = make_instances(r.dir / "in", "drain", 1, 400);

  // storescu in the background; SIGTERM once some instances are in the ledger.
  std::vector<std::string> argv{"storescu", "-v", "-aet", "TESTPACS", "-aec", "PACSPULL", "-to", "10", "-ta", "10",
                                "-td", "30", "127.0.0.1", std::to_string(r.dicom_port)};
  for (const auto& i : inst) argv.push_back(i.file.string());
  const fs::path scu_log = r.dir / "storescu.log";
  ChildProcess scu = ChildProcess::spawn(argv, dicom_tool_env(), scu_log);
  pqxx::connection c(db.url());
  REQUIRE(wait_for([&] { return count(c, "SELECT count(*) FROM instances") >= 20 || !scu.running(); }, 60s, 20ms));
  r.process.signal(SIGTERM);
  // Draining: a new association is refused at once (the listen socket is closed).
  REQUIRE(wait_for([&] { return !tcp_port_open(r.dicom_port) || !r.process.running(); }, 10s));
  const int rc = r.process.wait(40s);
  scu.wait(60s);
  INFO(read_file(r.log).substr(0, 4000));
  CHECK(rc == 0);

  std::map<std::string, std::string> sop_of;
  for (const auto& i : inst) sop_of[i.file.string()] = i.sop;
  std::istringstream in(read_file(scu_log));
  std::string line, current;
  std::set<std::string> acknowledged;
  while (std::getline(in, line)) {
    if (auto at = line.find("Sending file: "); at != std::string::npos) current = line.substr(at + 14);
    if (line.find("Received Store Response (Success)") != std::string::npos && sop_of.count(current))
      acknowledged.insert(sop_of[current]);
  }
  CHECK(acknowledged.size() >= 20);
  std::set<std::string> recorded;
  {
    pqxx::work w(c);
    for (const auto& row : w.exec("SELECT sop_uid, path FROM instances")) {
      recorded.insert(row[0].c_str());
      CHECK(fs::exists(row[1].c_str()));
    }
  }
  for (const auto& sop : acknowledged) CHECK(recorded.count(sop) == 1);
  CHECK(files_under(r.store / ".incoming").empty());  // nothing half-written left behind
  CHECK(files_under(r.store).size() == recorded.size());
  WARN(acknowledged.size() << " of " << inst.size() << " acknowledged before the drain ended, " << recorded.size()
                           << " recorded");
}

TEST_CASE("A full disk (watermarks off) answers A700, leaves nothing half-written, and resumes when space returns",
          "[receiver][storage]") {
  TestDatabase db;
  Receiver r;
  r.dir = make_temp_dir("pacspull-receiver-enospc");
  r.store = r.dir / "store";
  r.log = r.dir / "receiver.log";
  r.config = r.dir / "site.yaml";
  fs::create_directories(r.store);
  if (::mount("tmpfs", r.store.c_str(), "tmpfs", 0, "size=24m") != 0) {
    WARN("skipped: cannot mount a 24 MB tmpfs at " << r.store << " (" << std::strerror(errno)
                                                   << "); run as root to test a full disk");
    return;
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{r.store};
  write_config(r, db, ", storage_high_watermark: \"100%\", storage_low_watermark: \"100%\"");
  start(r);
  // The filler takes every free byte it can.
  const fs::path filler = r.store / "filler";
  {
    std::ofstream f(filler, std::ios::binary);
    std::string kb(1024, 'x');
    for (int n = 0; n < 32768 && f; ++n) f << kb;
  }
  const auto inst = make_instances(r.dir / "in", "full", 1, 4);
  auto answers = send(r, inst, r.dir / "storescu-full.log");
  REQUIRE_FALSE(answers.empty());
  for (const auto& [sop, status] : answers) CHECK(status.find("OutOfResources") != std::string::npos);
  pqxx::connection c(db.url());
  CHECK(count(c, "SELECT count(*) FROM instances") == 0);
  CHECK(files_under(r.store / ".incoming").empty());  // no half-written temp file stays

  fs::remove(filler);
  answers = send(r, inst, r.dir / "storescu-back.log");
  for (const auto& i : inst) CHECK(answers[i.sop] == "Success");
  CHECK(count(c, "SELECT count(*) FROM instances") == static_cast<long long>(inst.size()));
  CHECK(r.process.stop(40s) == 0);
}
