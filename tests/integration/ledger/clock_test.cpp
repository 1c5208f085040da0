// Decisions the ledger makes in SQL (stuck, age, due) use the service's `now`, passed as
// a parameter, and the timestamps they compare are stamped with that same clock: a
// finder run at a fake instant months in the past (the 00:30-local test) must not see
// everything as stuck by the database's clock.
#include <catch2/catch.hpp>

#include "pacspull/ledger/checker_store.hpp"
#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/mover_store.hpp"
#include "test_db.hpp"

using namespace pacspull;
using namespace std::chrono_literals;

TEST_CASE("Stuck, activity and due checks in SQL follow the service's clock, not the database's") {
  testing::TestDatabase db;
  ledger::Ledger l{db.url()};
  l.migrate();
  l.transact([](pqxx::work& w) { ledger::sync_pacs_nodes(w, {{"main", "PACS", "127.0.0.1", 104}}); });
  // 2026-03-15 00:30 in Shanghai; the database's clock is wherever the host is.
  const core::Time t0 = *core::parse_iso("2026-03-14T16:30:00Z");
  ledger::FoundStudy s;
  s.study_uid = "9.8.7";
  s.accession_number = rules::Text::from_utf8("ACC-987");
  s.patient_id = rules::Text::from_utf8("P9");
  s.study_date = rules::Text::ascii("20260315");
  s.modalities = rules::Text::ascii("CT");
  s.pacs_instances = 20;
  s.locations = {{"main", 20}};
  auto observe = [&](core::Time now) {
    return l.transact([&](pqxx::work& w) { return ledger::observe_study(w, s, {}, now); });
  };
  observe(t0);
  auto queued = observe(t0 + 30s);
  REQUIRE(queued.move);

  // Finder reconciler: queued at t0+30s, no move job yet.
  auto stuck_at = [&](core::Time now) {
    return l.transact([&](pqxx::work& w) { return ledger::stuck_queued(w, 120s, now); }).size();
  };
  CHECK(stuck_at(t0 + 60s) == 0);   // the database's now() would call it stuck for months
  CHECK(stuck_at(t0 + 151s) == 1);

  // Mover: the job is due from t0+40s (when it was queued), claimed at t0+200s, finished at
  // t0+260s.
  REQUIRE(l.transact([&](pqxx::work& w) { return ledger::enqueue_move(w, *queued.move, t0 + 40s); }));
  CHECK_FALSE(l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, t0 + 39s); }));  // not due yet
  auto job = l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, t0 + 200s); });
  REQUIRE(job);
  ledger::MoveAttempt a{true, 20, 0, 0, {}, 60s};
  l.transact([&](pqxx::work& w) {
    ledger::finish_job(w, *job, a, pipeline::after_attempt({}, job->attempts, true, "", t0 + 260s), t0 + 260s);
  });

  // Checker: the last activity is the end of the move by the mover's clock.
  auto pulling = l.transact([&](pqxx::work& w) { return ledger::pulling_studies(w, t0 + 300s); });
  REQUIRE(pulling.size() == 1);
  CHECK(pulling[0].input.last_activity == t0 + 260s);
  CHECK(pulling[0].input.now == t0 + 300s);
  REQUIRE(l.transact([&](pqxx::work& w) { return ledger::apply_received(w, pulling[0], false, "complete"); }));
  auto stuck_received = [&](core::Time now) {
    return l.transact([&](pqxx::work& w) { return ledger::stuck_received(w, 120s, now); }).size();
  };
  CHECK(stuck_received(t0 + 400s) == 0);  // received at t0+300s by the checker's clock
  CHECK(stuck_received(t0 + 421s) == 1);
}
