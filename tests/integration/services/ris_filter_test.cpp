// The real filter with RIS orders in the ledger (issue 9 part 9): real PostgreSQL and
// nats-server from tests/run.sh, a real CT image. A study whose RIS order says ABDOMEN is
// filtered by the RIS rule; with rules.ris.tolerance the same patient's chest order that day
// brings it back (the RIS rule passes, the image rules decide); a study without an order is
// not held back by the RIS (the rule does not apply: the flow never waits for the RIS).
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <pqxx/pqxx>

#include "pacspull/bus/bus.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/ris_store.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;
namespace ledger = pacspull::ledger;
using pacspull::rules::Text;

namespace {

// A received study (generation 1, not yet filtered) with one series whose first image is `file`.
void add_received(ledger::Ledger& l, const std::string& uid, const std::string& accession, const std::string& patient,
                  const fs::path& file) {
  l.transact([&](pqxx::work& w) {
    w.exec_params(R"sql(INSERT INTO studies (study_uid, accession_number, patient_id, study_date, state, generation,
                          filtered_generation, pacs_instances, state_changed_at)
                        VALUES ($1, $2, $3, '20261201', 'received', 1, 0, 1, now()))sql",
                  uid, accession, patient);
    w.exec_params("INSERT INTO series (series_uid, study_uid, modality, series_number, first_instance_path) "
                  "VALUES ($1 || '.1', $1, 'CT', 1, $2)",
                  uid, file.string());
    w.exec_params("INSERT INTO instances (sop_uid, series_uid, study_uid, path) VALUES ($1 || '.1.1', $1 || '.1', $1, $2)",
                  uid, file.string());
  });
}

ledger::RisOrderRow order(const std::string& accession, const std::string& patient, const std::string& parts) {
  ledger::RisOrderRow o;
  o.ris = "ris";
  o.accession = Text::from_utf8(accession);
  o.patient_id = Text::from_utf8(patient);
  o.body_parts = Text::from_utf8(parts);
  o.body_parts_raw = parts;
  o.priority = "ROUTINE";
  o.scheduled_date = "20261201";
  return o;
}

}  // namespace

TEST_CASE("The filter applies the RIS body part, and tolerance mode the patient's day", "[ris][integration]") {
  fs::path dir = make_temp_dir("pacspull-ris-filter");
  fs::path images = dir / "images";
  make_dated_study(images, "20261201", "101500", "CT");
  fs::path file;
  for (const auto& e : fs::directory_iterator(images))
    if (e.path().extension() == ".dcm") file = e.path();
  REQUIRE(!file.empty());

  TestDatabase db;
  ledger::Ledger l(db.url());
  l.migrate();
  add_received(l, "1.2.826.7435.1", "A-ABD", "P1", file);   // ABDOMEN, nothing else that day
  add_received(l, "1.2.826.7435.2", "A-ABD2", "P2", file);  // ABDOMEN, but a CHEST order the same day
  add_received(l, "1.2.826.7435.3", "A-NONE", "P3", file);  // no order (yet)
  l.transact([&](pqxx::work& w) {
    ledger::upsert_ris_orders(w, {order("A-ABD", "P1", "ABDOMEN"), order("A-ABD2", "P2", "ABDOMEN"),
                                  order("A-CHEST2", "P2", "CT CHEST")},
                              pacspull::core::Clock::now());
  });

  const std::string nats = env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222");
  uint16_t grpc = free_tcp_port(), metrics = free_tcp_port();
  fs::path config = dir / "site.yaml";
  std::ofstream(config) << "site: ris-filter\n"
                        << "ledger: {url: \"" << db.url() << "\"}\n"
                        << "bus: {url: \"" << nats << "\"}\n"
                        << "local: {storage_root: " << dir.string() << "}\n"
                        << "pacs:\n  - {name: main, ae_title: PACS, host: 127.0.0.1, port: 104}\n"
                        << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
                        << "filter: {grpc_port: " << grpc << ", metrics_port: " << metrics << "}\n"
                        << "rules: {ris: {tolerance: true}}\n";
  fs::path log = dir / "filter.log";
  auto p = ChildProcess::spawn({bin("pacspull-filter").string(), "--config", config.string()}, {}, log);
  REQUIRE(wait_for([&] { return tcp_port_open(grpc) || !p.running(); }, std::chrono::seconds(30)));
  REQUIRE(p.running());

  pacspull::bus::Options bo;
  bo.url = nats;
  bo.name = "ris-filter-test";
  auto bus = pacspull::bus::Bus::connect(bo);
  for (const char* uid : {"1.2.826.7435.1", "1.2.826.7435.2", "1.2.826.7435.3"}) {
    pacspull::events::v1::StudyReceived m;
    m.set_study_instance_uid(uid);
    m.set_generation(1);
    m.set_pacs_instances(1);
    m.set_received_instances(1);
    bus->publish(pacspull::runtime::subjects::kStudyReceived, m.SerializeAsString(), std::string("received.") + uid + ".1");
  }

  auto rule_of = [&](const std::string& uid) {
    pqxx::connection c(db.url());
    pqxx::read_transaction t(c);
    auto r = t.exec_params("SELECT coalesce(verdict_rule, ''), coalesce(verdict_reason, '') FROM series "
                           "WHERE study_uid = $1 AND verdict_generation = 1",
                           uid);
    return r.empty() ? std::pair<std::string, std::string>{} : std::pair<std::string, std::string>{r[0][0].c_str(), r[0][1].c_str()};
  };
  bool judged = wait_for(
      [&] {
        for (const char* uid : {"1.2.826.7435.1", "1.2.826.7435.2", "1.2.826.7435.3"})
          if (rule_of(uid).first.empty()) return false;
        return true;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(200));
  p.signal(SIGTERM);
  p.wait(std::chrono::seconds(30));
  INFO(read_file(log));
  REQUIRE(judged);
  const auto abd = rule_of("1.2.826.7435.1"), tolerated = rule_of("1.2.826.7435.2"), none = rule_of("1.2.826.7435.3");
  INFO(abd.second << " / " << tolerated.second << " / " << none.second);
  CHECK(abd.first == "ris");
  CHECK_THAT(abd.second, Catch::Contains("ABDOMEN"));
  CHECK(tolerated.first != "ris");  // the chest order of the day passes the RIS rule
  CHECK(none.first != "ris");       // no order: the RIS rule does not apply
  CHECK(tolerated.first == none.first);  // both then judged by the image rules alike
}
