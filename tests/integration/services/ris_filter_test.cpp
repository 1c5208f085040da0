// The real filter with RIS orders in the ledger (issue 9 part 9): real PostgreSQL and
// nats-server from tests/run.sh, a real CT image. A study whose RIS order says ABDOMEN is
// filtered by the RIS rule; with rules.ris.tolerance the same patient's chest order that day
// brings it back (the RIS rule passes, the image rules decide); a study without an order is
// not held back by the RIS (the rule does not apply: the flow never waits for the RIS).
// Two procedure steps under one accession (a worklist item each) merge into one order: a
// chest step lets the study pass the RIS rule, two non-chest steps filter it naming both;
// without tolerance another accession's chest order of the same patient does not count.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <vector>

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

using Verdicts = std::map<std::string, std::pair<std::string, std::string>>;  // uid -> (rule, reason)

// Runs the real filter on `rules_yaml` until every study of `uids` has its series verdict.
Verdicts run_filter(const TestDatabase& db, const fs::path& dir, const std::string& rules_yaml,
                    const std::vector<std::string>& uids) {
  const std::string nats = env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222");
  uint16_t grpc = free_tcp_port(), metrics = free_tcp_port();
  fs::path config = dir / ("site-" + std::to_string(grpc) + ".yaml");
  std::ofstream(config) << "site: ris-filter\n"
                        << "ledger: {url: \"" << db.url() << "\"}\n"
                        << "bus: {url: \"" << nats << "\"}\n"
                        << "local: {storage_root: " << dir.string() << "}\n"
                        << "pacs:\n  - {name: main, ae_title: PACS, host: 127.0.0.1, port: 104}\n"
                        << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
                        << "filter: {grpc_port: " << grpc << ", metrics_port: " << metrics << "}\n"
                        << rules_yaml;
  fs::path log = dir / ("filter-" + std::to_string(grpc) + ".log");
  auto p = ChildProcess::spawn({bin("pacspull-filter").string(), "--config", config.string()}, {}, log);
  REQUIRE(wait_for([&] { return tcp_port_open(grpc) || !p.running(); }, std::chrono::seconds(30)));
  REQUIRE(p.running());

  pacspull::bus::Options bo;
  bo.url = nats;
  bo.name = "ris-filter-test";
  auto bus = pacspull::bus::Bus::connect(bo);
  for (const auto& uid : uids) {
    pacspull::events::v1::StudyReceived m;
    m.set_study_instance_uid(uid);
    m.set_generation(1);
    m.set_pacs_instances(1);
    m.set_received_instances(1);
    bus->publish(pacspull::runtime::subjects::kStudyReceived, m.SerializeAsString(), "received." + uid + ".1");
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
        for (const auto& uid : uids)
          if (rule_of(uid).first.empty()) return false;
        return true;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(200));
  p.signal(SIGTERM);
  p.wait(std::chrono::seconds(30));
  INFO(read_file(log));
  REQUIRE(judged);
  Verdicts out;
  for (const auto& uid : uids) out[uid] = rule_of(uid);
  return out;
}

fs::path ct_image(const fs::path& dir) {
  fs::path images = dir / "images";
  make_dated_study(images, "20261201", "101500", "CT");
  for (const auto& e : fs::directory_iterator(images))
    if (e.path().extension() == ".dcm") return e.path();
  return {};
}

ledger::RisOrderRow step(const std::string& accession, const std::string& patient, const std::string& key,
                         const std::string& parts, const std::string& priority = "ROUTINE") {
  ledger::RisOrderRow o = order(accession, patient, parts);
  o.step_key = key;
  o.body_part_list = {Text::from_utf8(parts)};
  o.priority = priority;
  return o;
}

}  // namespace

TEST_CASE("The filter applies the RIS body part, and tolerance mode the patient's day", "[ris][integration]") {
  fs::path dir = make_temp_dir("pacspull-ris-filter");
  fs::path file = ct_image(dir);
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
  Verdicts v = run_filter(db, dir, "rules: {ris: {tolerance: true}}\n", {"1.2.826.7435.1", "1.2.826.7435.2", "1.2.826.7435.3"});
  const auto abd = v["1.2.826.7435.1"], tolerated = v["1.2.826.7435.2"], none = v["1.2.826.7435.3"];
  INFO(abd.second << " / " << tolerated.second << " / " << none.second);
  CHECK(abd.first == "ris");
  CHECK_THAT(abd.second, Catch::Contains("ABDOMEN"));
  CHECK(tolerated.first != "ris");  // the chest order of the day passes the RIS rule
  CHECK(none.first != "ris");       // no order: the RIS rule does not apply
  CHECK(tolerated.first == none.first);  // both then judged by the image rules alike
}

TEST_CASE("Two procedure steps under one accession: the filter sees the merged order", "[ris][integration]") {
  fs::path dir = make_temp_dir("pacspull-ris-steps");
  fs::path file = ct_image(dir);
  REQUIRE(!file.empty());

  TestDatabase db;
  ledger::Ledger l(db.url());
  l.migrate();
  add_received(l, "1.2.826.7436.1", "A-MIX", "P1", file);   // steps: abdomen, then chest
  add_received(l, "1.2.826.7436.2", "A-ABDS", "P2", file);  // steps: abdomen and pelvis
  add_received(l, "1.2.826.7436.3", "A-ABD3", "P3", file);  // abdomen; the patient's chest is another accession
  add_received(l, "1.2.826.7436.4", "A-NONE", "P4", file);  // no order
  l.transact([&](pqxx::work& w) {
    auto u = ledger::upsert_ris_orders(w, {step("A-MIX", "P1", "RP1/SPS1", "CT ABDOMEN"),
                                           step("A-MIX", "P1", "RP1/SPS2", "CT CHEST", "STAT"),
                                           step("A-ABDS", "P2", "RP1/SPS1", "CT ABDOMEN"),
                                           step("A-ABDS", "P2", "RP1/SPS2", "CT PELVIS"),
                                           step("A-ABD3", "P3", "RP1/SPS1", "CT ABDOMEN"),
                                           step("A-CHEST3", "P3", "RP1/SPS1", "CT CHEST")},
                                       pacspull::core::Clock::now());
    CHECK(u.steps == 6);
    CHECK(u.orders == 4);
    CHECK(u.raised_studies == 1);  // A-MIX: its chest step is STAT, the order is urgent
  });
  // Tolerance off (the default): the merge stays within one accession.
  Verdicts v = run_filter(db, dir, "", {"1.2.826.7436.1", "1.2.826.7436.2", "1.2.826.7436.3", "1.2.826.7436.4"});
  const auto mix = v["1.2.826.7436.1"], abds = v["1.2.826.7436.2"], other = v["1.2.826.7436.3"],
             none = v["1.2.826.7436.4"];
  INFO(mix.second << " / " << abds.second << " / " << other.second << " / " << none.second);
  CHECK(mix.first != "ris");  // its chest step passes the RIS rule: judged by the image like no order
  CHECK(mix.first == none.first);
  CHECK(abds.first == "ris");
  CHECK_THAT(abds.second, Catch::Contains("CT ABDOMEN | CT PELVIS"));
  CHECK(other.first == "ris");  // another accession's chest order does not count without tolerance
  CHECK_THAT(other.second, Catch::Contains("CT ABDOMEN"));
  CHECK_THAT(other.second, !Catch::Contains("CHEST"));
}
