// pacspull_receiver_store_failures_total{reason} counts the failures where they happen, with
// the real pacspull-receiver binary, real PostgreSQL (a fresh database) and nats-server
// (tests/run.sh), read from its /metrics page:
// - parse: a dataset that does not parse, sent over a raw socket (send_raw_store.py: storescu
//   re-encodes what it sends and will not send what it cannot parse) is answered 0xC000;
// - disk: a store whose filesystem turned read-only (a tmpfs remounted ro, EROFS at the temp
//   file's creation) and one with less free space than the receiver keeps in reserve
//   (ENOSPC foreseen before writing) are answered 0xA700, and succeed again once writable.
// - four associations sending four series of one study at once all succeed, recorded once
//   each (group commit; the study row is locked before rows that reference it).
// The tmpfs part is skipped (with a warning) when mounting is not permitted.
#include <catch2/catch.hpp>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <regex>
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

struct Receiver {
  fs::path dir, store, log, config;
  uint16_t dicom_port = 0, metrics_port = 0;
  ChildProcess process;
};

Receiver make_receiver(const std::string& name) {
  Receiver r;
  r.dir = make_temp_dir(name);
  r.store = r.dir / "store";
  r.log = r.dir / "receiver.log";
  r.config = r.dir / "site.yaml";
  fs::create_directories(r.store);
  return r;
}

void start(Receiver& r, const TestDatabase& db) {
  r.dicom_port = free_tcp_port();
  r.metrics_port = free_tcp_port();
  {
    std::ofstream f(r.config);
    f << "site: receiver-failures\nledger: {url: \"" << db.url() << "\"}\n"
      << "bus: {url: \"" << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
      << "local: {ae_title: PACSPULL, receiver_ae_title: PACSPULL, storage_root: " << r.store.string()
      << ", connect_timeout: 5s}\n"
      << "pacs:\n  - {name: nowhere, ae_title: NOPACS, host: 127.0.0.1, port: 1}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
      << "receiver: {dicom_port: " << r.dicom_port << ", grpc_port: " << free_tcp_port()
      << ", metrics_port: " << r.metrics_port
      << ", storage_high_watermark: \"100%\", storage_low_watermark: \"100%\""
      << ", allowed_callers: [TESTPACS, RAWSENDER], accept_unsolicited: true}\n";  // senders not in pacs: (issue 11)
  }
  r.process = ChildProcess::spawn({bin("pacspull-receiver").string(), "--config", r.config.string()}, {}, r.log);
  REQUIRE(wait_for([&] { return tcp_port_open(r.dicom_port) || !r.process.running(); }, 60s));
  INFO(read_file(r.log));
  REQUIRE(r.process.running());
}

// The value of pacspull_receiver_store_failures_total{reason="<reason>"} on /metrics, -1
// when the page or the series is missing.
double failures(const Receiver& r, const std::string& reason) {
  const fs::path page = r.dir / "metrics.txt";
  fs::remove(page);
  run_command({"curl", "-s", "http://127.0.0.1:" + std::to_string(r.metrics_port) + "/metrics"}, 10s, page);
  const std::regex line("pacspull_receiver_store_failures_total\\{[^}]*reason=\"" + reason + "\"[^}]*\\} ([0-9.e+]+)");
  std::smatch m;
  const std::string text = read_file(page);
  if (!std::regex_search(text, m, line)) return -1;
  return std::stod(m[1].str());
}

// storescu of one file; its answer ("Success", or the status line it printed).
std::string send_one(const Receiver& r, const fs::path& file, const std::string& tag) {
  const fs::path log = r.dir / ("storescu-" + tag + ".log");
  run_command({"storescu", "-v", "-aet", "TESTPACS", "-aec", "PACSPULL", "-to", "10", "-ta", "10", "-td", "30",
               "127.0.0.1", std::to_string(r.dicom_port), file.string()},
              60s, log, dicom_tool_env());
  std::istringstream in(read_file(log));
  for (std::string l; std::getline(in, l);)
    if (auto at = l.find("Received Store Response"); at != std::string::npos)
      return l.find("(Success)") != std::string::npos ? "Success" : l.substr(at);
  return "no response: " + read_file(log);
}

size_t files_under_count(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it)
    n += it->is_regular_file() ? 1 : 0;
  return n;
}

fs::path one_instance(const fs::path& dir) {
  const fs::path out = dir / "in";
  const fs::path log = dir / "make.log";
  REQUIRE(run_command({"/usr/bin/python3", (source_dir() / "tests/integration/dicom/make_instances.py").string(),
                       out.string(), "--prefix", "fail"},
                      60s, log) == 0);
  std::istringstream in(read_file(log));
  std::string path;
  in >> path;
  REQUIRE(fs::exists(path));
  return path;
}

}  // namespace

TEST_CASE("An unparsable dataset is answered C000 and counted as a parse failure", "[receiver][failures]") {
  TestDatabase db;
  Receiver r = make_receiver("pacspull-receiver-parse");
  start(r, db);
  REQUIRE(wait_for([&] { return failures(r, "parse") == 0; }, 30s, 200ms));  // created at 0

  const fs::path out = r.dir / "raw.log";
  REQUIRE(run_command({"/usr/bin/python3", (source_dir() / "tests/integration/services/send_raw_store.py").string(),
                       "127.0.0.1", std::to_string(r.dicom_port), "PACSPULL", "--malformed"},
                      60s, out) == 0);
  INFO(read_file(out));
  CHECK(read_file(out).find("status 0xc000") != std::string::npos);
  CHECK(wait_for([&] { return failures(r, "parse") == 1; }, 30s, 200ms));
  CHECK(failures(r, "disk") == 0);
  CHECK(read_file(r.log).find("malformed instance") != std::string::npos);
  pqxx::connection c(db.url());
  pqxx::work w(c);
  CHECK(w.exec1("SELECT count(*) FROM instances")[0].as<long long>() == 0);
  w.commit();
  CHECK(files_under_count(r.store / ".incoming") == 0);
  CHECK(r.process.stop(40s) == 0);
}

TEST_CASE("A read-only or full store is answered A700 and counted as a disk failure, then recovers",
          "[receiver][failures]") {
  TestDatabase db;
  Receiver r = make_receiver("pacspull-receiver-disk");
  if (::mount("tmpfs", r.store.c_str(), "tmpfs", 0, "size=40m") != 0) {
    WARN("skipped: cannot mount a tmpfs at " << r.store << " (" << std::strerror(errno)
                                             << "); run as root to test disk failures");
    return;
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{r.store};
  start(r, db);
  const fs::path file = one_instance(r.dir);
  REQUIRE(wait_for([&] { return failures(r, "disk") == 0; }, 30s, 200ms));

  // Read-only: creating the temp file fails with EROFS.
  REQUIRE(::mount("tmpfs", r.store.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, "size=40m") == 0);
  std::string answer = send_one(r, file, "ro");
  CHECK(answer.find("OutOfResources") != std::string::npos);
  CHECK(wait_for([&] { return failures(r, "disk") == 1; }, 30s, 200ms));
  CHECK(read_file(r.log).find("cannot create") != std::string::npos);
  REQUIRE(::mount("tmpfs", r.store.c_str(), nullptr, MS_REMOUNT, "size=40m") == 0);

  // Nearly full: 10 MB left, less than the 16 MiB reserve the receiver keeps before writing
  // (and below the storage cap's 100% watermark, which would count it as "refused").
  const fs::path filler = r.store / "filler";
  {
    std::ofstream f(filler, std::ios::binary);
    const std::string mb(1 << 20, 'x');
    for (int n = 0; n < 30 && f; ++n) f << mb;
  }
  answer = send_one(r, file, "full");
  CHECK(answer.find("OutOfResources") != std::string::npos);
  CHECK(wait_for([&] { return failures(r, "disk") == 2; }, 30s, 200ms));
  CHECK(failures(r, "parse") == 0);

  fs::remove(filler);
  CHECK(send_one(r, file, "back") == "Success");
  pqxx::connection c(db.url());
  pqxx::work w(c);
  CHECK(w.exec1("SELECT count(*) FROM instances")[0].as<long long>() == 1);
  w.commit();
  CHECK(r.process.stop(40s) == 0);
}

TEST_CASE("Four associations sending four series of one study at once: every instance Success and recorded once",
          "[receiver][concurrency]") {
  // The rows of concurrent associations share ledger commits (group commit); the first
  // images of different series of one study used to deadlock on the study row.
  TestDatabase db;
  Receiver r = make_receiver("pacspull-receiver-concurrent");
  start(r, db);
  const fs::path in = r.dir / "in";
  const fs::path make_log = r.dir / "make.log";
  REQUIRE(run_command({"/usr/bin/python3", (source_dir() / "tests/integration/dicom/make_instances.py").string(),
                       in.string(), "--series", "4", "--instances", "10", "--prefix", "conc"},
                      2min, make_log) == 0);
  std::map<std::string, std::vector<std::string>> by_series;  // series UID -> files
  std::istringstream listing(read_file(make_log));
  for (std::string path, study, series, sop; listing >> path >> study >> series >> sop;) by_series[series].push_back(path);
  REQUIRE(by_series.size() == 4);

  std::vector<ChildProcess> senders;
  std::vector<fs::path> logs;
  for (const auto& [series, files] : by_series) {
    logs.push_back(r.dir / ("storescu-" + std::to_string(logs.size()) + ".log"));
    std::vector<std::string> argv{"storescu", "-v", "-aet", "TESTPACS", "-aec", "PACSPULL", "-to", "10", "-ta", "10",
                                  "-td", "30", "127.0.0.1", std::to_string(r.dicom_port)};
    argv.insert(argv.end(), files.begin(), files.end());
    senders.push_back(ChildProcess::spawn(argv, dicom_tool_env(), logs.back()));
  }
  for (auto& s : senders) CHECK(s.wait(120s) == 0);
  size_t successes = 0;
  for (const auto& log : logs) {
    std::istringstream in_log(read_file(log));
    for (std::string l; std::getline(in_log, l);)
      if (l.find("Received Store Response (Success)") != std::string::npos) ++successes;
  }
  CHECK(successes == 40);
  pqxx::connection c(db.url());
  pqxx::work w(c);
  CHECK(w.exec1("SELECT count(*) FROM instances")[0].as<long long>() == 40);
  CHECK(w.exec1("SELECT count(*) FROM series")[0].as<long long>() == 4);
  w.commit();
  CHECK(read_file(r.log).find("deadlock") == std::string::npos);
  CHECK(wait_for([&] { return failures(r, "ledger") == 0; }, 30s, 200ms));
  CHECK(r.process.stop(40s) == 0);
}
