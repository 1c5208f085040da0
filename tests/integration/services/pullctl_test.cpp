// pullctl against real peers: Orthanc as the PACS, the real receiver service, real
// PostgreSQL and nats-server (tests/run.sh). `pacs test` must name each
// misconfiguration with its own exit code; `health` reads grpc.health.v1; `status`,
// `parked` and `audit` answer one JSON document with --output json.
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "dcmqrscp_peer.hpp"
#include "orthanc.hpp"
#include "pacspull/bus/bus.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string add_study(OrthancPacs& pacs, const fs::path& dir, const std::string& date, int instances) {
  return add_dated_study(pacs, dir / ("study-" + std::to_string(instances)), date, "101500", "CT", instances);
}

// A site: the receiver's ports, every other service on a free port nobody listens on.
struct Site {
  fs::path dir;
  std::string ledger_url, bus_url = env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222");
  uint16_t receiver_dicom = free_tcp_port(), receiver_grpc = free_tcp_port(), receiver_metrics = free_tcp_port();
  std::map<std::string, uint16_t> grpc{{"finder", free_tcp_port()}, {"mover", free_tcp_port()},
                                       {"filter", free_tcp_port()}, {"checker", free_tcp_port()},
                                       {"dispatcher", free_tcp_port()}};

  // `pacs` and `receiver_ae` vary per case; the receiver itself always runs as PACSPULL.
  fs::path write(const std::string& name, const DicomNode& pacs, const std::string& receiver_ae = "PACSPULL",
                 bool accept_unsolicited = true) const {
    fs::path p = dir / (name + ".yaml");
    std::ofstream f(p);
    f << "site: pullctl-test\nledger: {url: \"" << ledger_url << "\"}\nbus: {url: \"" << bus_url << "\"}\n"
      << "local: {ae_title: PULLCTL, receiver_ae_title: " << receiver_ae << ", storage_root: " << (dir / "store").string()
      << ", connect_timeout: 2s, acse_timeout: 5s, dimse_timeout: 20s}\n"
      << "pacs:\n  - {name: main, ae_title: " << pacs.ae_title << ", host: " << pacs.host << ", port: " << pacs.port
      << "}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
      << "receiver: {dicom_port: " << receiver_dicom << ", grpc_port: " << receiver_grpc
      << ", metrics_port: " << receiver_metrics
      // `pacs test` moves an instance of a study no pull asked for (issue 11: refused by default)
      << ", accept_unsolicited: " << (accept_unsolicited ? "true" : "false") << "}\n";
    for (const auto& [svc, port] : grpc) f << svc << ": {grpc_port: " << port << ", metrics_port: " << free_tcp_port() << "}\n";
    return p;
  }
};

struct Answer {
  int rc = -1;
  json doc;
  std::string err;
};

// Runs pullctl --output json; stdout must be one JSON document whatever the exit code.
Answer pullctl(const fs::path& config, const std::vector<std::string>& args) {
  static int n = 0;
  fs::path out = config.parent_path() / ("pullctl-" + std::to_string(++n) + ".out");
  fs::path err = config.parent_path() / ("pullctl-" + std::to_string(n) + ".err");
  std::string cmd = "exec '" + bin("pullctl").string() + "' --config '" + config.string() + "' --output json";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>'" + err.string() + "'";
  Answer a;
  a.rc = run_command({"/bin/sh", "-c", cmd}, std::chrono::seconds(120), out);
  a.err = read_file(err);
  std::string text = read_file(out);
  INFO("pullctl " << cmd << "\nstdout: " << text << "\nstderr: " << a.err);
  REQUIRE_NOTHROW(a.doc = json::parse(text));
  return a;
}

}  // namespace

TEST_CASE("pacs test against the secure receiver: the refused test instance still proves the path") {
  TestDatabase db;
  Site site;
  site.dir = make_temp_dir("pacspull-pullctl-secure");
  site.ledger_url = db.url();
  OrthancPacs pacs(site.dir / "orthanc", "ORTHANC", {{"PACSPULL", "127.0.0.1", site.receiver_dicom}});
  add_study(pacs, site.dir, today_yyyymmdd(), 2);
  // The receiver's defaults: only the PACS may call, and nothing no pull asked for is stored.
  const fs::path secure = site.write("secure", pacs.node(), "PACSPULL", false);
  const fs::path receiver_log = site.dir / "receiver.log";
  auto receiver = ChildProcess::spawn({bin("pacspull-receiver").string(), "--config", secure.string()}, {}, receiver_log);
  REQUIRE(wait_for([&] { return tcp_port_open(site.receiver_dicom) && tcp_port_open(site.receiver_grpc); },
                   std::chrono::seconds(60)));
  INFO("receiver log:\n" << log_tail(receiver_log));
  auto t = pullctl(secure, {"pacs", "test", "main"});
  CHECK(t.rc == 0);
  CHECK(t.doc["ok"] == true);
  REQUIRE(t.doc["steps"].size() == 3);
  CHECK(t.doc["steps"][2]["step"] == "move");
  CHECK(t.doc["steps"][2]["detail"].get<std::string>().find("refused as unsolicited") != std::string::npos);
  pqxx::connection c(db.url());
  pqxx::read_transaction tx(c);
  CHECK(tx.exec1("SELECT count(*) FROM instances")[0].as<int>() == 0);  // refused, not stored
}

TEST_CASE("pullctl against a real PACS, receiver, ledger and bus") {
  TestDatabase db;
  Site site;
  site.dir = make_temp_dir("pacspull-pullctl");
  site.ledger_url = db.url();
  const std::string today = today_yyyymmdd();

  // Orthanc that checks the AE title it is called by, knows our receiver (PACSPULL), a
  // destination registered at the wrong port (BADPORT) and another receiver (ELSEWHERE).
  StoreScpNode elsewhere(site.dir / "elsewhere", "ELSEWHERE");
  OrthancOptions oo;
  oo.extra_config = {"\"DicomCheckCalledAet\": true"};
  OrthancPacs pacs(site.dir / "orthanc", "ORTHANC",
                   {{"PACSPULL", "127.0.0.1", site.receiver_dicom},
                    {"BADPORT", "127.0.0.1", free_tcp_port()},
                    {"ELSEWHERE", "127.0.0.1", elsewhere.port()}},
                   oo);
  const std::string study = add_study(pacs, site.dir, today, 3);

  fs::path good = site.write("good", pacs.node());
  fs::path receiver_log = site.dir / "receiver.log";
  auto receiver = ChildProcess::spawn({bin("pacspull-receiver").string(), "--config", good.string()}, {}, receiver_log);
  REQUIRE(wait_for([&] { return tcp_port_open(site.receiver_dicom) && tcp_port_open(site.receiver_grpc); },
                   std::chrono::seconds(60)));
  INFO("receiver log:\n" << log_tail(receiver_log));

  SECTION("pacs echo and pacs test: a correct site, then one exit code per misconfiguration") {
    auto echo = pullctl(good, {"pacs", "echo", "main"});
    CHECK(echo.rc == 0);
    CHECK(echo.doc["ok"] == true);

    auto ok = pullctl(good, {"pacs", "test", "main"});
    CHECK(ok.rc == 0);
    CHECK(ok.doc["ok"] == true);
    REQUIRE(ok.doc["steps"].size() == 4);
    CHECK(ok.doc["steps"][3]["step"] == "arrive");
    {
      pqxx::connection c(db.url());
      pqxx::read_transaction t(c);
      CHECK(t.exec_params1("SELECT count(*) FROM instances WHERE study_uid = $1", study)[0].as<int>() == 1);
    }

    auto port = pullctl(site.write("wrong-port", {"ORTHANC", "127.0.0.1", free_tcp_port()}), {"pacs", "test", "main"});
    CHECK(port.rc == 10);
    CHECK_THAT(port.doc["verdict"].get<std::string>(), Catch::Contains("wrong host or port"));

    auto called = pullctl(site.write("wrong-ae", {"NOTORTHANC", "127.0.0.1", pacs.dicom_port()}), {"pacs", "test", "main"});
    CHECK(called.rc == 11);
    CHECK_THAT(called.doc["verdict"].get<std::string>(), Catch::Contains("AE title in the site file is wrong"));

    // Orthanc answers an unknown destination with 0xC000; the standard's 0xA801 comes from
    // DCMTK's dcmqrscp, holding the same study.
    {
      DcmQrScpPeer qrscp(site.dir / "dcmqrscp", "QRSCP", {});  // knows no move destination
      qrscp.upload(site.dir / "study-3");
      auto unknown = pullctl(site.write("unregistered", qrscp.node(), "NOTREGISTERED"),
                             {"pacs", "test", "main"});
      INFO(unknown.doc.dump(2) << "\ndcmqrscp log:\n" << log_tail(qrscp.log()));
      CHECK(unknown.rc == 17);
      CHECK_THAT(unknown.doc["verdict"].get<std::string>(), Catch::Contains("does not know our receiver's AE title"));
      qrscp.stop();
    }

    auto badport = pullctl(site.write("badport", pacs.node(), "BADPORT"), {"pacs", "test", "main"});
    INFO(badport.doc.dump(2));
    CHECK(badport.rc == 18);
    CHECK_THAT(badport.doc["verdict"].get<std::string>(), Catch::Contains("could not store to it"));

    auto lost = pullctl(site.write("elsewhere", pacs.node(), "ELSEWHERE"), {"pacs", "test", "main", "--wait", "5"});
    CHECK(lost.rc == 19);
    CHECK_THAT(lost.doc["verdict"].get<std::string>(), Catch::Contains("our receiver got nothing"));
    CHECK(wait_for([&] { return !elsewhere.files().empty(); }, std::chrono::seconds(10)));  // it went elsewhere
  }

  SECTION("health: the running receiver is SERVING, the others UNREACHABLE, exit 1") {
    auto h = pullctl(good, {"health", "--timeout", "2"});
    CHECK(h.rc == 1);
    CHECK(h.doc["all_serving"] == false);
    std::map<std::string, std::string> by;
    for (const auto& s : h.doc["services"]) by[s["service"]] = s["status"];
    CHECK(by["receiver"] == "SERVING");
    CHECK(by["finder"] == "UNREACHABLE");
    CHECK(by.size() == 6);
  }

  SECTION("status, parked list and retry, audit") {
    {
      pqxx::connection c(db.url());
      pqxx::work w(c);
      w.exec("INSERT INTO studies (study_uid, study_date, modalities, state, pacs_instances, filtered_generation, "
             "dispatched_generation, generation) VALUES "
             "('9.1', '" + today + "', 'CT', 'completed', 100, 1, 1, 1), "
             "('9.2', '" + today + "', 'CT\\PR', 'pulling', 200, 0, 0, 1), "
             "('9.3', '" + today + "', 'CR', 'unsupported', 2, 1, 0, 1), "
             "('9.4', '20000101', 'CT', 'found', 5, 0, 0, 0)");
      w.exec("INSERT INTO dispatches (study_uid, generation, series_uids, status) VALUES ('9.1', 1, '{}', 'sent')");
      w.exec("INSERT INTO events (study_uid, service, kind, detail) VALUES ('9.2', 'mover', 'move', 'move started')");
      w.exec("INSERT INTO parked_messages (service, subject, payload, reason) VALUES "
             "('filter', 'pacspull.study.received', 'not a protobuf', 'unreadable payload')");
      w.commit();
    }
    auto st = pullctl(good, {"status", "--date", today});
    CHECK(st.rc == 0);
    CHECK(st.doc["date"] == today);
    CHECK(st.doc["total"]["found"] == 3);
    CHECK(st.doc["total"]["done"] == 2);
    CHECK(st.doc["modalities"]["CT"]["found"] == 2);
    CHECK(st.doc["modalities"]["CT"]["dispatched"] == 1);
    CHECK(st.doc["modalities"]["DX"]["filtered"] == 1);
    CHECK(st.doc["oldest_pending"]["study_instance_uid"] == "9.2");
    CHECK(st.doc["oldest_pending"]["last_event"]["detail"] == "move started");

    auto list = pullctl(good, {"parked", "list"});
    REQUIRE(list.doc["parked"].size() == 1);
    const long long id = list.doc["parked"][0]["id"];
    pacspull::bus::Options bo;
    bo.url = site.bus_url;
    auto b = pacspull::bus::Bus::connect(bo);
    const uint64_t before = b->stream_messages("PACSPULL_WORK");
    auto retry = pullctl(good, {"parked", "retry", std::to_string(id)});
    CHECK(retry.rc == 0);
    CHECK(retry.doc["republished"] == true);
    CHECK(b->stream_messages("PACSPULL_WORK") == before + 1);
    CHECK(pullctl(good, {"parked", "list"}).doc["parked"].empty());
    auto again = pullctl(good, {"parked", "retry", std::to_string(id)});
    CHECK(again.rc == 2);
    CHECK(again.doc.contains("error"));

    // The PACS has `study` (3 instances) and a second study the ledger never saw.
    const std::string unseen = add_study(pacs, site.dir, today, 1);
    auto audit = pullctl(good, {"audit", "--date", today});
    CHECK(audit.rc == 1);
    CHECK(audit.doc["pacs_candidates"] == 2);
    CHECK(audit.doc["differ"] == 2);
    std::map<std::string, std::string> why;
    for (const auto& d : audit.doc["devices"]) {
      CHECK_THAT(d["device"].get<std::string>(), Catch::Contains("GE MEDICAL SYSTEMS"));
      for (const auto& s : d["studies"]) why[s["study_instance_uid"]] = s["explanation"];
    }
    CHECK_THAT(why[unseen], Catch::StartsWith("not found yet"));
    CHECK_THAT(why[study], Catch::StartsWith("not found yet"));
  }
  receiver.signal(SIGTERM);
  CHECK(receiver.wait(std::chrono::seconds(30)) == 0);
  // No AccessionNumber, PatientID or PatientName (make_dated_study.py: ACC<date><time>;
  // CT_small's 1CT1, CompressedSamples^CT1) in the receiver's log.
  const std::string logged = read_file(receiver_log);
  CHECK_THAT(logged, !Catch::Contains("ACC" + today + "101500") && !Catch::Contains("1CT1") &&
                         !Catch::Contains("CompressedSamples"));
}

// The verdicts of `pacs test` that stop before the C-MOVE, each made by a real peer:
// Orthanc refusing an unknown caller (12), DCMTK storescp --refuse (13), Orthanc knowing
// our AE but not allowing it C-ECHO (14) or C-FIND (15), an empty Orthanc (16). And usage
// errors: exit 2 and, with --output json, still one JSON document.
TEST_CASE("pacs test: association and query failures by exit code; usage errors as JSON") {
  TestDatabase db;
  Site site;
  site.dir = make_temp_dir("pacspull-pullctl-verdicts");
  site.ledger_url = db.url();

  OrthancOptions oo;
  oo.extra_config = {"\"DicomAlwaysAllowEcho\": false", "\"DicomAlwaysAllowStore\": false",
                     "\"DicomAlwaysAllowFind\": false", "\"DicomAlwaysAllowGet\": false",
                     "\"DicomAlwaysAllowMove\": false"};
  OrthancPacs strict(site.dir / "orthanc", "STRICT", {}, oo);
  const fs::path cfg = site.write("strict", strict.node());
  auto allow = [&](bool echo, bool find) {
    strict.rest("PUT", "/modalities/pullctl",
                std::string(R"({"AET": "PULLCTL", "Host": "127.0.0.1", "Port": 1, "AllowEcho": )") +
                    (echo ? "true" : "false") + R"(, "AllowFind": )" + (find ? "true" : "false") + "}");
  };

  auto unknown = pullctl(cfg, {"pacs", "test", "main"});
  INFO(unknown.doc.dump(2) << "\nOrthanc log:\n" << log_tail(strict.log_path()));
  CHECK(unknown.rc == 12);
  CHECK_THAT(unknown.doc["verdict"].get<std::string>(), Catch::Contains("rejected our calling AE title 'PULLCTL'"));
  CHECK(pullctl(cfg, {"pacs", "echo", "main"}).rc == 12);

  allow(false, false);
  auto no_echo = pullctl(cfg, {"pacs", "test", "main"});
  INFO(no_echo.doc.dump(2));
  CHECK(no_echo.rc == 14);
  CHECK(no_echo.doc["steps"].size() == 1);

  allow(true, false);
  auto no_find = pullctl(cfg, {"pacs", "test", "main"});
  INFO(no_find.doc.dump(2));
  CHECK(no_find.rc == 15);
  CHECK(no_find.doc["steps"][0]["ok"] == true);
  CHECK(no_find.doc["steps"][1]["step"] == "find");

  allow(true, true);
  auto empty = pullctl(cfg, {"pacs", "test", "main"});
  INFO(empty.doc.dump(2));
  CHECK(empty.rc == 16);
  CHECK_THAT(empty.doc["verdict"].get<std::string>(), Catch::Contains("no instance to test a C-MOVE with"));

  {
    const uint16_t port = free_tcp_port();
    auto refusing = ChildProcess::spawn({"storescp", "--refuse", "-aet", "REFUSER", std::to_string(port)},
                                        dicom_tool_env(), site.dir / "refuser.log");
    REQUIRE(wait_for([&] { return tcp_port_open(port); }, std::chrono::seconds(20)));
    auto refused = pullctl(site.write("refuser", {"REFUSER", "127.0.0.1", port}), {"pacs", "test", "main"});
    INFO(refused.doc.dump(2));
    CHECK(refused.rc == 13);
    CHECK_THAT(refused.doc["verdict"].get<std::string>(), Catch::Contains("rejected the association"));
  }

  auto bad_command = pullctl(cfg, {"pacs", "bogus"});
  CHECK(bad_command.rc == 2);
  CHECK_THAT(bad_command.doc["error"].get<std::string>(), Catch::Contains("subcommand"));
  CHECK(bad_command.doc["exit_code"] == 2);
  auto bad_option = pullctl(cfg, {"status", "--no-such-option"});
  CHECK(bad_option.rc == 2);
  CHECK_THAT(bad_option.doc["error"].get<std::string>(), Catch::Contains("--no-such-option"));
}
