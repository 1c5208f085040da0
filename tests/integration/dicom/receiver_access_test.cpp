// Who may send to the receiver (issue 11 parts 1-2), with the real pacspull-receiver, real
// PostgreSQL and nats-server (tests/run.sh) and DCMTK's storescu as the callers:
// - by default only the configured PACS AE titles (from their `addresses` when given) and
//   receiver.allowed_callers are accepted; others get A-ASSOCIATE-RJ, a log line with the
//   calling AE and the peer address, and pacspull_receiver_associations_rejected_total{reason};
// - images of a study no pull asked for are refused (0x0124), counted and logged, and leave
//   no file and no ledger row; accept_any_caller / accept_unsolicited reopen both doors;
// - receiver.tls: storescu +tls with a certificate of the test's CA stores, a plain client
//   is refused (reason "tls").
#include <catch2/catch.hpp>

#include <fstream>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>

#include "peers.hpp"
#include "process.hpp"
#include "support.hpp"
#include "test_db.hpp"

using namespace pacspull::testing;
using pacspull::dicom::testing::helper_script;
using pacspull::dicom::testing::make_instances;
using pacspull::dicom::testing::TestInstance;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

fs::path bin(const std::string& name) { return fs::path(env_or("PACSPULL_BINARY_DIR", "build")) / "bin" / name; }

struct Receiver {
  fs::path dir, log, config;
  uint16_t dicom_port = 0, metrics_port = 0;
  ChildProcess process;
};

Receiver start_receiver(const TestDatabase& db, const fs::path& dir, const std::string& pacs,
                        const std::string& receiver_extra) {
  Receiver r;
  r.dir = dir;
  r.log = dir / "receiver.log";
  r.config = dir / "site.yaml";
  r.dicom_port = free_tcp_port();
  r.metrics_port = free_tcp_port();
  std::ofstream f(r.config);
  f << "site: receiver-access\nledger: {url: \"" << db.url() << "\"}\n"
    << "bus: {url: \"" << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
    << "local: {ae_title: PACSPULL, receiver_ae_title: PACSPULL, storage_root: " << (dir / "store").string() << "}\n"
    << "pacs:\n" << pacs << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
    << "receiver:\n  dicom_port: " << r.dicom_port << "\n  grpc_port: " << free_tcp_port()
    << "\n  metrics_port: " << r.metrics_port << "\n" << receiver_extra;
  f.close();
  r.process = ChildProcess::spawn({bin("pacspull-receiver").string(), "--config", r.config.string()}, {}, r.log);
  REQUIRE(wait_for([&] { return (tcp_port_open(r.dicom_port) && tcp_port_open(r.metrics_port)) || !r.process.running(); },
                   60s));
  INFO(read_file(r.log));
  REQUIRE(r.process.running());
  return r;
}

// A counter on /metrics with the label reason="<reason>", -1 when absent.
double metric(const Receiver& r, const std::string& name, const std::string& reason) {
  const fs::path page = r.dir / "metrics.txt";
  fs::remove(page);
  run_command({"curl", "-s", "http://127.0.0.1:" + std::to_string(r.metrics_port) + "/metrics"}, 10s, page);
  const std::regex line(name + "\\{[^}]*reason=\"" + reason + "\"[^}]*\\} ([0-9.e+]+)");
  std::smatch m;
  const std::string text = read_file(page);
  if (!std::regex_search(text, m, line)) return -1;
  return std::stod(m[1].str());
}

struct Sent {
  int rc = -1;
  std::vector<std::string> answers;  // one per Store Response: "Success" or the line
  std::string log;
};

Sent storescu(const Receiver& r, const std::string& calling, const std::vector<TestInstance>& files,
              const std::string& tag, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{"storescu", "-v", "-aet", calling, "-aec", "PACSPULL", "-to", "10", "-ta", "10", "-td", "30"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("127.0.0.1");
  argv.push_back(std::to_string(r.dicom_port));
  for (const auto& f : files) argv.push_back(f.path.string());
  const fs::path log = r.dir / ("storescu-" + tag + ".log");
  Sent s;
  s.rc = run_command(argv, 60s, log, dicom_tool_env());
  s.log = read_file(log);
  std::istringstream in(s.log);
  for (std::string l; std::getline(in, l);)
    if (auto at = l.find("Received Store Response"); at != std::string::npos)
      s.answers.push_back(l.find("(Success)") != std::string::npos ? "Success" : l.substr(at));
  return s;
}

long long count(const TestDatabase& db, const std::string& sql, const std::string& param) {
  pqxx::connection c(db.url());
  pqxx::work w(c);
  return w.exec_params1(sql, param)[0].as<long long>();
}

size_t files_under(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it)
    n += it->is_regular_file() ? 1 : 0;
  return n;
}

std::vector<TestInstance> of_study(const std::vector<TestInstance>& all, const std::string& study) {
  std::vector<TestInstance> out;
  for (const auto& i : all)
    if (i.study == study) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("By default the receiver takes only the configured PACS and allowed callers, and no unsolicited study",
          "[receiver][access]") {
  TestDatabase db;
  const fs::path dir = make_temp_dir("pacspull-receiver-access");
  const auto all = make_instances(dir / "in", {"--studies", "2", "--instances", "2"});
  const std::string solicited = all.front().study;
  std::string unsolicited;
  for (const auto& i : all)
    if (i.study != solicited) unsolicited = i.study;
  REQUIRE_FALSE(unsolicited.empty());

  Receiver r = start_receiver(db, dir,
                              "  - {name: main, ae_title: PACSA, host: 127.0.0.1, port: 1}\n"
                              "  - {name: far, ae_title: FARPACS, host: 127.0.0.1, port: 1, addresses: [\"10.99.0.0/16\", "
                              "\"2001:db8::/32\"]}\n",
                              "  allowed_callers:\n    - {ae_title: WORKSTATION, addresses: [\"127.0.0.0/8\"]}\n");
  INFO(read_file(r.log));
  for (const char* reason : {"calling_ae", "address"})
    REQUIRE(wait_for([&] { return metric(r, "pacspull_receiver_associations_rejected_total", reason) == 0; }, 30s));
  {  // the finder found the first study: its row exists before any image arrives
    pqxx::connection c(db.url());
    pqxx::work w(c);
    w.exec_params("INSERT INTO studies (study_uid, state, generation) VALUES ($1, 'pulling', 1)", solicited);
    w.commit();
  }

  // The PACS sends the study we asked for: stored.
  Sent ok = storescu(r, "PACSA", of_study(all, solicited), "pacs");
  INFO(ok.log);
  CHECK(ok.answers == std::vector<std::string>{"Success", "Success"});
  CHECK(count(db, "SELECT count(*) FROM instances WHERE study_uid = $1", solicited) == 2);

  // ...and a study nobody asked for: each instance refused, nothing kept.
  // (storescu stops at the first failure status it does not know: one instance per run)
  int n = 0;
  for (const auto& instance : of_study(all, unsolicited)) {
    Sent refused = storescu(r, "PACSA", {instance}, "unsolicited-" + std::to_string(++n));
    INFO(refused.log);
    REQUIRE(refused.answers.size() == 1);
    CHECK(refused.answers[0].find("0x124") != std::string::npos);  // PS3.7 "Refused: Not Authorized"
  }
  CHECK(count(db, "SELECT count(*) FROM studies WHERE study_uid = $1", unsolicited) == 0);
  CHECK(count(db, "SELECT count(*) FROM instances WHERE study_uid = $1", unsolicited) == 0);
  CHECK_FALSE(fs::exists(dir / "store" / unsolicited));
  CHECK(files_under(dir / "store") == 2);
  CHECK(wait_for([&] { return metric(r, "pacspull_receiver_store_failures_total", "unsolicited") == 2; }, 10s));
  CHECK(read_file(r.log).find("refused instance") != std::string::npos);

  // An unknown calling AE title: rejected at association time.
  Sent stranger = storescu(r, "STRANGER", of_study(all, solicited), "stranger");
  CHECK(stranger.rc != 0);
  CHECK(stranger.answers.empty());
  CHECK(stranger.log.find("Calling AE Title Not Recognized") != std::string::npos);
  CHECK(wait_for([&] { return metric(r, "pacspull_receiver_associations_rejected_total", "calling_ae") == 1; }, 10s));
  CHECK(read_file(r.log).find("'STRANGER' from 127.0.0.1") != std::string::npos);

  // A known PACS AE title from an address it may not use.
  Sent far = storescu(r, "FARPACS", of_study(all, solicited), "far");
  CHECK(far.rc != 0);
  CHECK(far.log.find("Calling AE Title Not Recognized") != std::string::npos);
  CHECK(wait_for([&] { return metric(r, "pacspull_receiver_associations_rejected_total", "address") == 1; }, 10s));
  CHECK(read_file(r.log).find("allowed only from 10.99.0.0/16, 2001:db8::/32") != std::string::npos);

  // An allowed caller from its network: accepted (a duplicate of what we hold).
  Sent ws = storescu(r, "WORKSTATION", {all.front()}, "workstation");
  CHECK(ws.answers == std::vector<std::string>{"Success"});
  CHECK(metric(r, "pacspull_receiver_associations_rejected_total", "calling_ae") == 1);
  CHECK(count(db, "SELECT count(*) FROM instances WHERE study_uid = $1", solicited) == 2);
  r.process.stop(10s);
  fs::remove_all(dir);
}

TEST_CASE("accept_any_caller and accept_unsolicited restore the open receiver, loudly", "[receiver][access]") {
  TestDatabase db;
  const fs::path dir = make_temp_dir("pacspull-receiver-open");
  const auto all = make_instances(dir / "in", {"--studies", "1", "--instances", "2"});
  Receiver r = start_receiver(db, dir, "  - {name: main, ae_title: PACSA, host: 127.0.0.1, port: 1}\n",
                              "  accept_any_caller: true\n  accept_unsolicited: true\n");
  INFO(read_file(r.log));
  Sent s = storescu(r, "ANYBODY", all, "anybody");
  INFO(s.log);
  CHECK(s.answers == std::vector<std::string>{"Success", "Success"});
  CHECK(count(db, "SELECT count(*) FROM studies WHERE study_uid = $1 AND unsolicited", all.front().study) == 1);
  CHECK(read_file(r.log).find("ACCEPTING ANY CALLING AE TITLE") != std::string::npos);
  CHECK(read_file(r.log).find("accept_unsolicited") != std::string::npos);
  r.process.stop(10s);
  fs::remove_all(dir);
}

TEST_CASE("receiver.tls: storescu +tls with a certificate of our CA stores, a plain client is refused",
          "[receiver][access][tls]") {
  TestDatabase db;
  const fs::path dir = make_temp_dir("pacspull-receiver-tls");
  REQUIRE(run_command({"/bin/sh", helper_script("make_tls_certs.sh").string(), (dir / "pki").string()}, 60s,
                      dir / "pki.log") == 0);
  auto pki = [&](const char* f) { return (dir / "pki" / f).string(); };
  const auto all = make_instances(dir / "in", {"--studies", "1", "--instances", "2"});
  Receiver r = start_receiver(db, dir, "  - {name: main, ae_title: PACSA, host: 127.0.0.1, port: 1}\n",
                              "  accept_unsolicited: true\n  tls: {enabled: true, certificate: " + pki("server.pem") +
                                  ", private_key: " + pki("server.key") + ", ca_certificates: " + pki("ca.pem") + "}\n");
  INFO(read_file(r.log));
  CHECK(wait_for([&] { return read_file(r.log).find("(DICOM TLS)") != std::string::npos; }, 10s));  // logged after the bind
  Sent s = storescu(r, "PACSA", all, "tls", {"+tls", pki("client.key"), pki("client.pem"), "+cf", pki("ca.pem")});
  INFO(s.log);
  CHECK(s.answers == std::vector<std::string>{"Success", "Success"});
  CHECK(count(db, "SELECT count(*) FROM instances WHERE study_uid = $1", all.front().study) == 2);
  // The start-up wait's bare TCP connects count as failed handshakes too (so would a load
  // balancer's TCP probe): count from here, at least one per refused client.
  const double before = metric(r, "pacspull_receiver_associations_rejected_total", "tls");
  CHECK(before >= 0);
  Sent plain = storescu(r, "PACSA", all, "plain");
  CHECK(plain.rc != 0);
  CHECK(plain.answers.empty());
  Sent rogue = storescu(r, "PACSA", all, "rogue", {"+tls", pki("rogue.key"), pki("rogue.pem"), "+cf", pki("ca.pem")});
  CHECK(rogue.answers.empty());
  CHECK(wait_for([&] { return metric(r, "pacspull_receiver_associations_rejected_total", "tls") >= before + 2; }, 10s));
  r.process.stop(10s);
  fs::remove_all(dir);
}
