// RIS orders in the ledger (issue 9 part 9) against a real PostgreSQL: upsert and refresh,
// raw bytes kept, look-ups by accession and by patient and day, and urgent orders raising
// the priority of their study and its pending move so that the mover claims it first,
// whether the order came before the study was queued or after.
#include <catch2/catch.hpp>

#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/mover_store.hpp"
#include "pacspull/ledger/ris_store.hpp"
#include "pacspull/ledger/timeline.hpp"
#include "test_db.hpp"

using namespace pacspull;
using namespace std::chrono_literals;
using rules::Text;

namespace {

ledger::FoundStudy study(const std::string& uid, const std::string& accession, const std::string& patient) {
  ledger::FoundStudy s;
  s.study_uid = uid;
  s.accession_number = Text::from_utf8(accession);
  s.patient_id = Text::from_utf8(patient);
  s.study_date = Text::ascii("20261201");
  s.modalities = Text::ascii("CT");
  s.pacs_instances = 5;
  s.locations = {{"main", 5}};
  return s;
}

ledger::RisOrderRow order(const std::string& accession, const std::string& patient, const std::string& parts,
                          const std::string& priority, const std::string& raw = {}) {
  ledger::RisOrderRow o;
  o.ris = "ris";
  o.accession = Text::from_utf8(accession);
  o.patient_id = Text::from_utf8(patient);
  o.body_parts = Text::from_utf8(parts);
  o.body_parts_raw = raw.empty() ? parts : raw;
  o.priority = priority;
  o.scheduled_date = "20261201";
  return o;
}

struct Fixture {
  testing::TestDatabase db;
  ledger::Ledger l{db.url()};
  core::Time now = core::Clock::now();
  Fixture() {
    l.migrate();
    l.transact([](pqxx::work& w) { ledger::sync_pacs_nodes(w, {{"main", "PACS", "127.0.0.1", 104}}); });
  }
  // Two polls with the same count: the study is queued; the finder's hook applies the RIS.
  std::optional<ledger::MoveWork> queue(const ledger::FoundStudy& s) {
    std::optional<ledger::MoveWork> out;
    for (int i = 0; i < 2 && !out; ++i)
      out = l.transact([&](pqxx::work& w) {
        auto seen = ledger::observe_study(w, s, {}, now);
        if (seen.move) {
          if (auto p = ledger::apply_ris_priority(w, seen.move->study_uid)) seen.move->priority = *p;
        }
        return seen.move;
      });
    return out;
  }
  void enqueue(const ledger::MoveWork& m) {
    l.transact([&](pqxx::work& w) { return ledger::enqueue_move(w, m, now); });
  }
  int study_priority(const std::string& uid) {
    return l.transact([&](pqxx::work& w) { return w.exec_params1("SELECT priority FROM studies WHERE study_uid = $1", uid)[0].as<int>(); });
  }
};

}  // namespace

TEST_CASE("RIS orders are upserted, refreshed and read back with their raw bytes", "[ris]") {
  Fixture f;
  const std::string gbk = "\xD0\xD8\xB2\xBF" "CT";
  auto u = f.l.transact([&](pqxx::work& w) {
    return ledger::upsert_ris_orders(w, {order("A1", "P1", "胸部CT", "ROUTINE", gbk), order("A2", "P1", "ABDOMEN", "LOW"),
                                         order("A3", "P2", "HEAD", "ROUTINE")},
                                     f.now);
  });
  CHECK(u.orders == 3);
  CHECK(u.fresh == 3);
  CHECK(u.raised_studies == 0);
  auto again = f.l.transact([&](pqxx::work& w) {
    return ledger::upsert_ris_orders(w, {order("A1", "P1", "胸部CT", "HIGH", gbk)}, f.now + 60s);
  });
  CHECK(again.fresh == 0);
  auto a1 = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A1"); });
  REQUIRE(a1.size() == 1);
  CHECK(a1[0].priority == "HIGH");  // refreshed
  CHECK(a1[0].body_parts.str() == "胸部CT");
  CHECK(a1[0].body_parts_raw == gbk);  // bytea, the bytes as the RIS sent them
  CHECK(a1[0].patient_id.str() == "P1");
  auto day = f.l.transact([](pqxx::work& w) { return ledger::ris_day_body_parts(w, "P1", "20261201"); });
  CHECK(day.size() == 2);
  CHECK(f.l.transact([](pqxx::work& w) { return ledger::ris_day_body_parts(w, "P1", "20261202"); }).empty());
  CHECK(f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "nope"); }).empty());
}

TEST_CASE("RIS context of a study: its order, and the patient's orders of the day", "[ris]") {
  Fixture f;
  f.queue(study("s.abd", "A-ABD", "P1"));
  f.queue(study("s.none", "A-NONE", "P9"));
  f.l.transact([&](pqxx::work& w) {
    ledger::upsert_ris_orders(w, {order("A-ABD", "P1", "ABDOMEN", "ROUTINE"), order("A-CHEST", "P1", "CHEST", "ROUTINE")},
                              f.now);
  });
  auto ctx = f.l.transact([](pqxx::work& w) { return ledger::ris_context(w, "s.abd"); });
  CHECK(ctx.body_parts == std::vector<std::string>{"ABDOMEN"});
  CHECK(ctx.day_body_parts.size() == 2);
  auto none = f.l.transact([](pqxx::work& w) { return ledger::ris_context(w, "s.none"); });
  CHECK(none.body_parts.empty());  // no order yet: the filter's RIS rule does not apply
  CHECK(none.day_body_parts.empty());
}

TEST_CASE("An urgent RIS order jumps the move queue, known before or after queuing", "[ris]") {
  Fixture f;
  // The STAT order is known before its study is queued.
  f.l.transact([&](pqxx::work& w) { ledger::upsert_ris_orders(w, {order("A-STAT", "P1", "CHEST", "STAT")}, f.now); });
  for (const char* uid : {"s.r1", "s.r2"}) {
    auto m = f.queue(study(uid, std::string("A-") + uid, "P2"));
    REQUIRE(m);
    CHECK(m->priority == 1);
    f.enqueue(*m);
  }
  auto stat = f.queue(study("s.stat", "A-STAT", "P1"));
  REQUIRE(stat);
  CHECK(stat->priority == ledger::kRisUrgentPriority);
  f.enqueue(*stat);
  CHECK(f.study_priority("s.stat") == ledger::kRisUrgentPriority);  // the dispatch inherits it

  // The HIGH order arrives after its study's move was queued (the RIS knew it later).
  auto late = f.queue(study("s.late", "A-LATE", "P3"));
  REQUIRE(late);
  CHECK(late->priority == 1);
  f.enqueue(*late);
  auto u = f.l.transact([&](pqxx::work& w) {
    return ledger::upsert_ris_orders(w, {order("A-LATE", "P3", "CHEST", "HIGH"), order("A-X", "P4", "CHEST", "STAT")},
                                     f.now);
  });
  CHECK(u.raised_studies == 1);
  CHECK(u.raised_jobs == 1);
  CHECK(f.study_priority("s.late") == ledger::kRisUrgentPriority);

  std::vector<std::string> claimed;
  while (auto j = f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, f.now + 1s); }))
    claimed.push_back(j->work.study_uid);
  REQUIRE(claimed.size() == 4);
  CHECK((claimed[0] == "s.stat" || claimed[0] == "s.late"));
  CHECK((claimed[1] == "s.stat" || claimed[1] == "s.late"));
  CHECK(claimed[0] != claimed[1]);
}

namespace {
ledger::RisOrderRow step(const std::string& accession, const std::string& patient, const std::string& key,
                         std::vector<std::string> parts, const std::string& priority, const std::string& date = "20261201") {
  ledger::RisOrderRow o;
  o.ris = "ris";
  o.accession = Text::from_utf8(accession);
  o.patient_id = Text::from_utf8(patient);
  o.step_key = key;
  for (const auto& p : parts) o.body_part_list.push_back(Text::from_utf8(p));
  o.body_parts_raw = parts.empty() ? std::string() : parts.front();
  o.priority = priority;
  o.scheduled_date = date;
  return o;
}
}  // namespace

TEST_CASE("Two procedure steps under one accession merge into one order; a step that leaves the worklist stays",
          "[ris]") {
  Fixture f;
  auto m = f.queue(study("s.two", "A-TWO", "P1"));
  REQUIRE(m);
  f.enqueue(*m);
  // One poll: a routine abdomen step and a STAT chest step of one accession.
  auto u = f.l.transact([&](pqxx::work& w) {
    return ledger::upsert_ris_orders(w, {step("A-TWO", "P1", "RP1/SPS1", {"CT ABDOMEN", "XB02"}, "ROUTINE"),
                                         step("A-TWO", "P1", "RP1/SPS2", {"CT CHEST", "XB01"}, "STAT")},
                                     f.now);
  });
  CHECK(u.steps == 2);
  CHECK(u.orders == 1);
  CHECK(u.fresh == 1);
  CHECK(u.raised_studies == 1);  // the highest priority of the steps: STAT
  CHECK(u.raised_jobs == 1);
  CHECK(f.study_priority("s.two") == ledger::kRisUrgentPriority);
  auto o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-TWO"); });
  REQUIRE(o.size() == 1);
  CHECK(o[0].steps == 2);
  CHECK(o[0].priority == "STAT");
  CHECK(o[0].body_parts.str() == "CT ABDOMEN | XB02 | CT CHEST | XB01");
  CHECK(o[0].body_parts_raw == "CT ABDOMEN | CT CHEST");
  auto ctx = f.l.transact([](pqxx::work& w) { return ledger::ris_context(w, "s.two"); });
  CHECK(ctx.body_parts == std::vector<std::string>{"CT ABDOMEN | XB02 | CT CHEST | XB01"});  // the merged order
  CHECK(ctx.day_body_parts.size() == 2);  // tolerance: each step of the day

  // The chest step was performed and left the worklist; the next poll has only the abdomen
  // step: the order keeps both (and stays urgent).
  auto later = f.l.transact([&](pqxx::work& w) {
    return ledger::upsert_ris_orders(w, {step("A-TWO", "P1", "RP1/SPS1", {"CT ABDOMEN", "XB02"}, "ROUTINE")},
                                     f.now + 60s);
  });
  CHECK(later.fresh == 0);
  o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-TWO"); });
  REQUIRE(o.size() == 1);
  CHECK(o[0].steps == 2);
  CHECK(o[0].priority == "STAT");
  CHECK(o[0].body_parts.str() == "CT ABDOMEN | XB02 | CT CHEST | XB01");

  // Two chest steps: the text once. A step refreshed with new text replaces its old text.
  f.l.transact([&](pqxx::work& w) {
    ledger::upsert_ris_orders(w, {step("A-CC", "P2", "RP1/SPS1", {"CT CHEST"}, "ROUTINE"),
                                  step("A-CC", "P2", "RP1/SPS2", {"CT CHEST"}, "LOW")},
                              f.now);
  });
  o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-CC"); });
  REQUIRE(o.size() == 1);
  CHECK(o[0].body_parts.str() == "CT CHEST");
  CHECK(o[0].priority == "ROUTINE");
  CHECK(o[0].steps == 2);

  // A step naming another patient: counted for the caller's warning, the first patient kept.
  auto odd = f.l.transact([&](pqxx::work& w) {
    return ledger::upsert_ris_orders(w, {step("A-CC", "P3", "RP1/SPS3", {"CT CHEST"}, "ROUTINE")}, f.now);
  });
  CHECK(odd.patient_conflicts == 1);
  o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-CC"); });
  REQUIRE(o.size() == 1);
  CHECK(o[0].patient_id.str() == "P2");
  CHECK(o[0].steps == 3);
}

TEST_CASE("Tolerance reads the patient's steps of that day, each on its own date; orders never merge across accessions",
          "[ris]") {
  Fixture f;
  f.queue(study("s.abd", "A-ABD", "P1"));  // study_date 20261201
  f.l.transact([&](pqxx::work& w) {
    ledger::upsert_ris_orders(w, {step("A-ABD", "P1", "a", {"CT ABDOMEN"}, "ROUTINE"),
                                  // the same accession's second step is scheduled the next day
                                  step("A-ABD", "P1", "b", {"CT PELVIS"}, "ROUTINE", "20261202"),
                                  step("A-CHEST", "P1", "a", {"CT CHEST"}, "ROUTINE"),
                                  step("A-HEAD", "P9", "a", {"CT HEAD"}, "ROUTINE")},
                              f.now);
  });
  auto ctx = f.l.transact([](pqxx::work& w) { return ledger::ris_context(w, "s.abd"); });
  // Its own order: both steps merged, nothing of A-CHEST.
  CHECK(ctx.body_parts == std::vector<std::string>{"CT ABDOMEN | CT PELVIS"});
  // The patient's day (20261201): the abdomen step and the other accession's chest step.
  CHECK(ctx.day_body_parts == std::vector<std::string>{"CT ABDOMEN", "CT CHEST"});
}

TEST_CASE("An urgent order that arrives between the queueing and the mover's enqueue still makes the job urgent",
          "[ris]") {
  Fixture f;
  auto m = f.queue(study("s.between", "A-BETWEEN", "P1"));
  REQUIRE(m);
  CHECK(m->priority == 1);  // published routine: no order yet
  auto u = f.l.transact([&](pqxx::work& w) {
    return ledger::upsert_ris_orders(w, {order("A-BETWEEN", "P1", "CHEST", "STAT")}, f.now);
  });
  CHECK(u.raised_studies == 1);
  CHECK(u.raised_jobs == 0);  // the request is still on the bus
  f.enqueue(*m);              // the mover gets the routine request now
  auto j = f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, f.now + 1s); });
  REQUIRE(j);
  CHECK(j->work.study_uid == "s.between");
  CHECK(j->work.priority == ledger::kRisUrgentPriority);
}

TEST_CASE("why shows the orders of a study's accession and what the RIS rule decided", "[ris][why]") {
  Fixture f;
  for (const char* uid : {"s.filtered", "s.passed", "s.plain"}) f.queue(study(uid, std::string("A-") + uid, "P1"));
  f.l.transact([&](pqxx::work& w) {
    auto abdomen = step("A-s.filtered", "P1", "RP1/SPS1", {"CT ABDOMEN"}, "ROUTINE");
    abdomen.scheduled_at = core::Time{} + std::chrono::seconds(1764584100);  // 2025-12-01 10:15:00 UTC
    ledger::upsert_ris_orders(w, {abdomen, step("A-s.filtered", "P1", "RP1/SPS2", {"CT PELVIS"}, "HIGH"),
                                  step("A-s.passed", "P1", "RP1/SPS1", {"CT CHEST"}, "ROUTINE")},
                              f.now);
    // Verdicts of generation 1, as the filter records them.
    auto verdict = [&](const std::string& study, const std::string& rule, const std::string& reason,
                       const std::string& looked) {
      w.exec_params("INSERT INTO series (series_uid, study_uid, modality, first_instance_path, verdict, verdict_rule, "
                    "verdict_reason, looked_at, verdict_generation) "
                    "VALUES ($1 || '.1', $1, 'CT', '/store/x.dcm', $2, $3, $4, $5::jsonb, 1)",
                    study, rule == "ris" ? "fail" : "pass", rule, reason, looked);
      w.exec_params("UPDATE studies SET filtered_generation = 1 WHERE study_uid = $1", study);
    };
    verdict("s.filtered", "ris", "filter because RIS body part CT ABDOMEN | CT PELVIS",
            R"({"RIS body parts": "CT ABDOMEN | CT PELVIS"})");
    verdict("s.passed", "all", "pass", R"({"RIS body parts": "CT CHEST", "BodyPartExamined": "CHEST"})");
    verdict("s.plain", "all", "pass", R"({"BodyPartExamined": "CHEST"})");
  });
  auto why = [&](const std::string& key) {
    auto t = f.l.transact([&](pqxx::work& w) { return ledger::why(w, key); });
    REQUIRE(t.size() == 1);
    return t[0];
  };
  const auto filtered = why("s.filtered");
  REQUIRE(filtered.ris_orders.size() == 1);
  const auto& o = filtered.ris_orders[0];
  CHECK(o.ris == "ris");
  CHECK(o.accession == "A-s.filtered");
  CHECK(o.priority == "HIGH");
  CHECK(o.urgent);
  CHECK(o.body_parts == "CT ABDOMEN | CT PELVIS");
  CHECK(o.steps == 2);
  CHECK(o.scheduled_date == "20261201");
  CHECK(o.scheduled_at == "2025-12-01 10:15:00");
  CHECK(filtered.priority == ledger::kRisUrgentPriority);
  CHECK(filtered.ris_decision == "filtered");
  CHECK(filtered.ris_detail == "filter because RIS body part CT ABDOMEN | CT PELVIS");
  // The patient's other steps that day (read in tolerance mode only).
  CHECK(filtered.ris_day_body_parts == std::vector<std::string>{"CT CHEST"});

  const auto passed = why("s.passed");
  REQUIRE(passed.ris_orders.size() == 1);
  CHECK_FALSE(passed.ris_orders[0].urgent);
  CHECK(passed.ris_orders[0].steps == 1);
  CHECK(passed.ris_decision == "passed");
  CHECK(passed.ris_detail == "RIS body parts CT CHEST");

  const auto plain = why("s.plain");
  CHECK(plain.ris_orders.empty());
  CHECK(plain.ris_decision == "not applied");
}

TEST_CASE("A step the RIS cancels leaves the merge, the tolerance day and the priority of later studies; why shows it",
          "[ris][why]") {
  Fixture f;
  const std::string gbk_abdomen = "\xB8\xB9\xB2\xBF" "CT";  // "腹部CT" in GBK, as an undeclared RIS sends it
  auto chest = step("A-C", "P1", "RP1/SPS1", {"CT CHEST"}, "ROUTINE");
  auto abdomen = step("A-C", "P1", "RP1/SPS2", {"腹部CT"}, "STAT");
  abdomen.body_parts_raw = gbk_abdomen;
  auto other = step("A-O", "P1", "RP9/SPS1", {"CT PELVIS"}, "ROUTINE");  // the patient's other order that day
  f.l.transact([&](pqxx::work& w) { ledger::upsert_ris_orders(w, {chest, abdomen, other}, f.now); });
  auto o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-C"); });
  REQUIRE(o.size() == 1);
  CHECK(o[0].priority == "STAT");
  CHECK(o[0].body_parts.str() == "CT CHEST | 腹部CT");

  // The next poll answers the abdomen step CANCELED (same texts, decoded the same way).
  abdomen.status = "CANCELED";
  auto u = f.l.transact([&](pqxx::work& w) { return ledger::upsert_ris_orders(w, {chest, abdomen}, f.now + 60s); });
  CHECK(u.steps == 2);
  CHECK(u.cancelled == 1);
  CHECK(u.raised_studies == 0);
  o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-C"); });
  REQUIRE(o.size() == 1);
  CHECK(o[0].priority == "ROUTINE");
  CHECK(o[0].body_parts.str() == "CT CHEST");
  CHECK(o[0].body_parts_raw == "CT CHEST");
  CHECK(o[0].steps == 1);
  CHECK(o[0].cancelled_steps == 1);
  // The cancelled step's row: its decoded text (valid UTF-8), its bytes, its status, when.
  auto row = f.l.transact([](pqxx::work& w) {
    return w.exec1("SELECT array_to_string(body_parts, ' | '), body_parts_raw, status, cancelled_at IS NOT NULL "
                   "FROM ris_order_steps WHERE accession = 'A-C' AND step_key = 'RP1/SPS2'");
  });
  CHECK(std::string(row[0].c_str()) == "腹部CT");
  CHECK(pqxx::binarystring(row[1]).str() == gbk_abdomen);
  CHECK(std::string(row[2].c_str()) == "CANCELED");
  CHECK(row[3].as<bool>());

  // A study of that accession queued now is not raised: the order is routine.
  auto m = f.queue(study("s.c", "A-C", "P1"));
  REQUIRE(m);
  CHECK(m->priority == 1);
  // Tolerance: the cancelled step is not one of the patient's steps that day.
  auto ctx = f.l.transact([](pqxx::work& w) { return ledger::ris_context(w, "s.c"); });
  CHECK(ctx.body_parts == std::vector<std::string>{"CT CHEST"});
  CHECK(ctx.day_body_parts == std::vector<std::string>{"CT CHEST", "CT PELVIS"});

  // why: the order as merged, and the cancelled step apart.
  auto t = f.l.transact([](pqxx::work& w) { return ledger::why(w, "s.c"); });
  REQUIRE(t.size() == 1);
  REQUIRE(t[0].ris_orders.size() == 1);
  const auto& v = t[0].ris_orders[0];
  CHECK(v.steps == 1);
  CHECK(v.priority == "ROUTINE");
  REQUIRE(v.cancelled_steps.size() == 1);
  CHECK(v.cancelled_steps[0].step_key == "RP1/SPS2");
  CHECK(v.cancelled_steps[0].status == "CANCELED");
  CHECK(v.cancelled_steps[0].body_parts == "腹部CT");
  CHECK(v.cancelled_steps[0].priority == "STAT");
  CHECK(v.cancelled_steps[0].cancelled_at.size() == 19);  // "YYYY-MM-DD HH:MM:SS"

  // A step that then leaves the worklist stays cancelled; the chest step that leaves it stays merged.
  f.l.transact([&](pqxx::work& w) { ledger::upsert_ris_orders(w, {other}, f.now + 120s); });
  o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-C"); });
  CHECK(o[0].body_parts.str() == "CT CHEST");
  CHECK(o[0].cancelled_steps == 1);

  // Put back by the RIS (SCHEDULED again): it counts again, no longer marked.
  abdomen.status = "SCHEDULED";
  f.l.transact([&](pqxx::work& w) { ledger::upsert_ris_orders(w, {abdomen}, f.now + 180s); });
  o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-C"); });
  CHECK(o[0].priority == "STAT");
  CHECK(o[0].steps == 2);
  CHECK(o[0].cancelled_steps == 0);
  CHECK(f.l.transact([](pqxx::work& w) {
    return w.exec1("SELECT count(*) FROM ris_order_steps WHERE cancelled_at IS NOT NULL")[0].as<int>();
  }) == 0);

  // Every step cancelled (DISCONTINUED, typed lower case): no body parts, no priority, no RIS rule.
  chest.status = " discontinued ";
  abdomen.status = "canceled";
  f.l.transact([&](pqxx::work& w) { ledger::upsert_ris_orders(w, {chest, abdomen}, f.now + 240s); });
  o = f.l.transact([](pqxx::work& w) { return ledger::ris_orders_for_accession(w, "A-C"); });
  REQUIRE(o.size() == 1);
  CHECK(o[0].body_parts.empty());
  CHECK(o[0].priority.empty());
  CHECK(o[0].steps == 0);
  CHECK(o[0].cancelled_steps == 2);
  CHECK(o[0].patient_id.str() == "P1");
  ctx = f.l.transact([](pqxx::work& w) { return ledger::ris_context(w, "s.c"); });
  CHECK(ctx.body_parts.empty());
  CHECK(ctx.day_body_parts == std::vector<std::string>{"CT PELVIS"});
}
