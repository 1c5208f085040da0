// The ledger against a real PostgreSQL (a fresh database per test case).
#include <catch2/catch.hpp>

#include "pacspull/ledger/checker_store.hpp"
#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/ledger/fleet_store.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/migrations.hpp"
#include "pacspull/ledger/mover_store.hpp"
#include "pacspull/ledger/receiver_store.hpp"
#include "pacspull/ledger/timeline.hpp"
#include "test_db.hpp"

using namespace pacspull;
using namespace std::chrono_literals;

namespace {

ledger::InstanceRow instance(std::string study, std::string series, std::string sop, std::string path,
                             std::string accession, std::string patient, std::string date, std::string modality,
                             std::string description, int number, long long bytes, std::string calling,
                             std::string receiver) {
  using rules::Text;
  ledger::InstanceRow i;
  i.study_uid = Text::ascii(study);
  i.series_uid = Text::ascii(series);
  i.sop_uid = Text::ascii(sop);
  i.path = Text::from_utf8(path);
  i.accession_number = Text::from_utf8(accession);
  i.patient_id = Text::from_utf8(patient);
  i.study_date = Text::ascii(date);
  i.modality = Text::ascii(modality);
  i.series_description = Text::from_utf8(description);
  i.series_number = number;
  i.bytes = bytes;
  i.calling_ae = Text::ascii(calling);
  i.receiver = Text::from_utf8(receiver);
  return i;
}

ledger::FoundStudy ct_study(const std::string& uid, long count) {
  ledger::FoundStudy s;
  s.study_uid = uid;
  s.accession_number = rules::Text::from_utf8("ACC-" + uid);
  s.patient_id = rules::Text::from_utf8("P1");
  s.study_date = rules::Text::ascii("20261121");
  s.modalities = rules::Text::ascii("CT");
  s.pacs_instances = count;
  s.locations = {{"main", count}};
  return s;
}

struct Fixture {
  testing::TestDatabase db;
  ledger::Ledger l{db.url()};
  Fixture() {
    l.migrate();
    l.transact([](pqxx::work& w) { ledger::sync_pacs_nodes(w, {{"main", "PACS", "127.0.0.1", 104}}); });
  }
  long count(const std::string& sql) {
    return l.transact([&](pqxx::work& w) { return w.exec1(sql)[0].as<long>(); });
  }
  std::string query(const std::string& sql) {
    return l.transact([&](pqxx::work& w) { return std::string(w.exec1(sql)[0].c_str()); });
  }
};

}  // namespace

TEST_CASE("Migrations apply once and are recorded") {
  Fixture f;
  // Versions are the files' numbers, not their positions: a gap (a number taken on another
  // branch) is allowed. migrate() answers the schema's version, the highest applied.
  const long applied = static_cast<long>(ledger::migrations().size());
  CHECK(f.l.migrate() == ledger::migrations().back().version);  // second run: nothing new
  CHECK(f.count("SELECT count(*) FROM schema_migrations") == applied);
  CHECK(f.l.healthy());
}

TEST_CASE("An unreachable ledger is a retryable error, not a crash") {
  try {
    ledger::Ledger l("postgresql://nobody@127.0.0.1:1/none", ledger::Ledger::Options{1, 10ms});
    FAIL("connected to nothing");
  } catch (const ledger::LedgerError& e) {
    CHECK(e.retryable());
  }
}

TEST_CASE("Finder: a CT study is queued once its count is unchanged between two polls") {
  Fixture f;
  auto now = core::Clock::now();
  auto observe = [&](long n) {
    return f.l.transact([&](pqxx::work& w) { return ledger::observe_study(w, ct_study("1.2.3", n), {}, now); });
  };
  auto first = observe(10);
  CHECK(first.decision.action == pipeline::FindAction::Record);
  CHECK_FALSE(first.move);
  CHECK(observe(12).decision.action == pipeline::FindAction::Wait);
  auto stable = observe(12);
  REQUIRE(stable.move);
  CHECK(stable.move->generation == 1);
  CHECK(stable.move->pacs == "main");
  CHECK(observe(12).decision.action == pipeline::FindAction::Nothing);
  auto t = f.l.transact([](pqxx::work& w) { return ledger::why(w, "ACC-1.2.3"); });
  REQUIRE(t.size() == 1);
  CHECK(t[0].state == "queued");
  CHECK(t[0].events.size() >= 3);
}

TEST_CASE("Mover: requests are idempotent and jobs run by priority, then exam time") {
  Fixture f;
  auto now = core::Clock::now();
  for (const char* uid : {"s.late", "s.early", "s.manual"})
    f.l.transact([&](pqxx::work& w) { ledger::observe_study(w, ct_study(uid, 5), {}, now); });
  auto job = [&](const char* uid, int prio, std::chrono::hours exam) {
    return ledger::MoveWork{uid, "main", "test", "", 1, prio, now - 48h + exam};
  };
  CHECK(f.l.transact([&](pqxx::work& w) { return ledger::enqueue_move(w, job("s.late", 1, 10h), now); }));
  CHECK_FALSE(f.l.transact([&](pqxx::work& w) { return ledger::enqueue_move(w, job("s.late", 1, 10h), now); }));
  CHECK(f.l.transact([&](pqxx::work& w) { return ledger::enqueue_move(w, job("s.early", 1, 1h), now); }));
  CHECK(f.l.transact([&](pqxx::work& w) { return ledger::enqueue_move(w, job("s.manual", 3, 20h), now); }));
  std::vector<std::string> order;
  while (auto j = f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, now + 1s); })) {
    order.push_back(j->work.study_uid);
    CHECK(j->pacs.port == 104);
    ledger::MoveAttempt a{true, 5, 0, 0, {}, 100ms};
    f.l.transact([&](pqxx::work& w) {
      ledger::finish_job(w, *j, a, pipeline::after_attempt({}, j->attempts, true, "", now), now);
    });
  }
  CHECK(order == std::vector<std::string>{"s.manual", "s.early", "s.late"});
  CHECK(f.count("SELECT count(*) FROM move_jobs WHERE status = 'done'") == 3);
}

TEST_CASE("Mover: a job left running by a crash runs again") {
  Fixture f;
  auto now = core::Clock::now();
  f.l.transact([&](pqxx::work& w) { ledger::observe_study(w, ct_study("s.1", 5), {}, now); });
  f.l.transact([&](pqxx::work& w) { ledger::enqueue_move(w, {"s.1", "main", "", "", 1, 1, now}, now); });
  REQUIRE(f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, now + 1s); }));
  CHECK_FALSE(f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, now + 1s); }));
  CHECK(f.l.transact([](pqxx::work& w) { return ledger::reset_running_jobs(w); }) == 1);
  auto again = f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, now + 1s); });
  REQUIRE(again);
  CHECK(again->attempts == 2);
}

TEST_CASE("Mover: a running job is leased to its mover; another takes it only when the lease runs out") {
  Fixture f;
  auto now = core::Clock::now();
  f.l.transact([&](pqxx::work& w) { ledger::observe_study(w, ct_study("s.1", 5), {}, now); });
  f.l.transact([&](pqxx::work& w) { ledger::enqueue_move(w, {"s.1", "main", "", "", 1, 1, now}, now); });
  REQUIRE(f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, now + 1s, {}, "mover-a"); }));
  // mover-b starting does not take mover-a's live job, nor can it claim it.
  CHECK(f.l.transact([&](pqxx::work& w) { return ledger::reset_running_jobs(w, "mover-b", now + 2s); }) == 0);
  CHECK_FALSE(f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, now + 2s, {}, "mover-b"); }));
  // mover-a renews its lease while the move runs: still its own past the first lease.
  CHECK(f.l.transact([&](pqxx::work& w) { return ledger::renew_leases(w, "mover-a", now + 50s, ledger::kMoveLease); }) == 1);
  CHECK_FALSE(f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, now + 70s, {}, "mover-b"); }));
  // mover-a dies: once its lease has run out, mover-b claims the job (a second attempt).
  auto taken = f.l.transact([&](pqxx::work& w) { return ledger::claim_next_job(w, now + 120s, {}, "mover-b"); });
  REQUIRE(taken);
  CHECK(taken->attempts == 2);
  CHECK(f.query("SELECT claimed_by FROM move_jobs") == "mover-b");
  // mover-b restarting takes back its own job at once, lease or not.
  CHECK(f.l.transact([&](pqxx::work& w) { return ledger::reset_running_jobs(w, "mover-b", now + 121s); }) == 1);
}

TEST_CASE("Receivers' store status: the mover holds only while every receiver heard from lately refuses") {
  Fixture f;
  auto now = core::Clock::now();
  auto hold = [&](core::Time t) { return f.l.transact([&](pqxx::work& w) { return ledger::store_hold(w, t, 30s); }); };
  CHECK_FALSE(hold(now).held);  // no receiver heard from: nothing to hold for
  f.l.transact([&](pqxx::work& w) { ledger::report_receiver(w, "rx-1", true, 0, now); });
  f.l.transact([&](pqxx::work& w) { ledger::report_receiver(w, "rx-2", false, 1 << 30, now); });
  CHECK_FALSE(hold(now + 1s).held);  // rx-2 still has room
  f.l.transact([&](pqxx::work& w) { ledger::report_receiver(w, "rx-2", true, 0, now + 2s); });
  auto h = hold(now + 3s);
  CHECK(h.held);
  CHECK(h.receivers == 2);
  // rx-1 stops reporting (died): rx-2 alone still refuses; then rx-2 stops (forgotten).
  f.l.transact([&](pqxx::work& w) { ledger::report_receiver(w, "rx-2", true, 0, now + 40s); });
  h = hold(now + 41s);
  CHECK(h.held);
  CHECK(h.receivers == 1);
  f.l.transact([&](pqxx::work& w) { ledger::forget_receiver(w, "rx-2"); });
  CHECK_FALSE(hold(now + 42s).held);
}

TEST_CASE("Receiver: duplicates change nothing; new images reopen a settled study under a new generation") {
  Fixture f;
  ledger::InstanceRow i = instance("st.1", "se.1", "sop.1", "/store/a.dcm", "ACC", "P", "20261121", "CT", "AXIAL", 3,
                                   100, "PACS", "r1");
  auto r1 = f.l.transact([&](pqxx::work& w) { return ledger::record_instance(w, i); });
  CHECK(r1.new_instance);
  CHECK(r1.new_series);
  auto r2 = f.l.transact([&](pqxx::work& w) { return ledger::record_instance(w, i); });
  CHECK_FALSE(r2.new_instance);
  CHECK_FALSE(r2.new_series);
  CHECK(f.count("SELECT count(*) FROM instances") == 1);
  CHECK(f.count("SELECT count(*) FROM studies WHERE unsolicited AND state = 'pulling'") == 1);

  f.l.transact([](pqxx::work& w) { w.exec("UPDATE studies SET state = 'completed'"); });
  i.sop_uid = rules::Text::ascii("sop.2");
  auto r3 = f.l.transact([&](pqxx::work& w) { return ledger::record_instance(w, i); });
  CHECK(r3.reopened);
  CHECK(f.count("SELECT generation FROM studies") == 2);
  CHECK(f.count("SELECT count(*) FROM studies WHERE state = 'pulling'") == 1);
}

TEST_CASE("Receiver: a group commit records its rows in one statement; a duplicate counts, a bad row fails alone") {
  Fixture f;
  using rules::Text;
  ledger::InstanceRow first = instance("st.1", "se.1", "sop.1", "/s/1", "A", "P", "20261121", "CT", "", 1, 10, "PACS", "r");
  f.l.transact([&](pqxx::work& w) { ledger::record_instance(w, first); });
  // A row PostgreSQL refuses: the batch's statement fails, and so its transaction.
  f.l.transact([](pqxx::work& w) {
    w.exec(R"sql(CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'bad row refused'; END $$)sql");
    w.exec("CREATE TRIGGER refuse_bad BEFORE INSERT ON instances FOR EACH ROW WHEN (NEW.sop_uid = 'sop.bad') "
           "EXECUTE FUNCTION refuse_bad()");
  });
  ledger::InstanceRow second = instance("st.1", "se.1", "sop.2", "/s/2", "A", "P", "20261121", "CT", "", 1, 10, "PACS", "r");
  ledger::InstanceRow again = first;  // the same instance sent again, an identical copy
  again.file_placed = false;
  ledger::InstanceRow again_in_batch = second;  // two associations sent sop.2 at once
  again_in_batch.file_placed = false;
  ledger::InstanceRow bad = instance("st.2", "se.2", "sop.bad", "/s/bad", "B", "Q", "20261121", "CT", "", 1, 10, "PACS", "r");
  ledger::InstanceRow other = instance("st.3", "se.3", "sop.3", "/s/3", "C", "R", "20261121", "CT", "", 4, 10, "PACS", "r");
  const std::string latin1 = "T\xD6RAX";  // ISO_IR 100 bytes: kept raw beside the decoded text
  other.series_description = Text::decode(latin1, "ISO_IR 100");
  other.series_raws = rules::raw_texts(core::AttributeMap{{"SpecificCharacterSet", "ISO_IR 100"}, {"SeriesDescription", latin1}},
                                       {"SeriesDescription"});
  REQUIRE(other.series_raws.size() == 1);
  ledger::InstanceRow conflict = first;
  std::vector<ledger::BatchRow> rows{{&other, std::nullopt}, {&bad, std::nullopt}, {&second, std::nullopt},
                                     {&again, std::nullopt}, {&again_in_batch, std::nullopt},
                                     {&conflict, Text::from_utf8("/aside/sop.1.conflict-1.dcm")}};
  std::vector<ledger::BatchOutcome> out = ledger::record_batch(f.l, rows);
  REQUIRE(out.size() == rows.size());
  CHECK(out[0].error.empty());
  CHECK(out[0].recorded.new_instance);
  CHECK(out[0].recorded.new_series);
  CHECK(out[1].error.find("bad row refused") != std::string::npos);
  CHECK(out[2].error.empty());
  CHECK(out[2].recorded.new_instance);
  CHECK_FALSE(out[2].recorded.new_series);
  CHECK(out[3].error.empty());
  CHECK_FALSE(out[3].recorded.new_instance);
  CHECK_FALSE(out[3].recorded.file_gone);
  CHECK(out[4].error.empty());
  CHECK_FALSE(out[4].recorded.new_instance);
  CHECK(out[5].error.empty());
  CHECK(f.count("SELECT count(*) FROM instances") == 3);
  CHECK(f.count("SELECT count(*) FROM instances WHERE sop_uid = 'sop.bad'") == 0);
  CHECK(f.count("SELECT count(*) FROM studies WHERE study_uid = 'st.2'") == 0);  // rolled back with its row
  CHECK(f.count("SELECT count(*) FROM events WHERE kind = 'new-series'") == 2);   // se.1 and se.3, once each
  CHECK(f.count("SELECT count(*) FROM instance_conflicts WHERE sop_uid = 'sop.1'") == 1);
  CHECK(f.count("SELECT count(*) FROM text_raw WHERE series_uid = 'se.3' AND attribute = 'SeriesDescription' AND "
                "raw = '\\x54d6524158'::bytea AND specific_character_set = 'ISO_IR 100'::bytea") == 1);
  CHECK(f.query("SELECT description FROM series WHERE series_uid = 'se.3'") == "TÖRAX");

  // Without the bad row the batch is one transaction; a duplicate of a copy whose file the
  // store's life cycle deleted meanwhile is reported gone, one placed again revives it.
  f.l.transact([](pqxx::work& w) { w.exec("UPDATE instances SET deleted_at = now() WHERE sop_uid IN ('sop.1', 'sop.2')"); });
  ledger::InstanceRow placed_again = second;
  placed_again.path = Text::from_utf8("/s/2-again");
  std::vector<ledger::BatchRow> more{{&again, std::nullopt}, {&placed_again, std::nullopt}};
  out = ledger::record_batch(f.l, more);
  REQUIRE(out.size() == 2);
  CHECK(out[0].error.empty());
  CHECK(out[0].recorded.file_gone);
  CHECK(out[1].error.empty());
  CHECK(out[1].recorded.revived);
  CHECK(f.query("SELECT path FROM instances WHERE sop_uid = 'sop.2' AND deleted_at IS NULL") == "/s/2-again");
}

TEST_CASE("Checker: received once per generation, re-pull bumps the generation") {
  Fixture f;
  ledger::InstanceRow i = instance("st.1", "se.1", "sop.1", "/a", "ACC", "P", "", "CT", "", 1, 1, "PACS", "r");
  f.l.transact([&](pqxx::work& w) { ledger::record_instance(w, i); });
  f.l.transact([](pqxx::work& w) { w.exec("UPDATE studies SET pacs_instances = 2"); });
  auto pulling = f.l.transact([](pqxx::work& w) { return ledger::pulling_studies(w, core::Clock::now()); });
  REQUIRE(pulling.size() == 1);
  CHECK(pulling[0].input.received_instances == 1);
  CHECK(pulling[0].input.pacs_instances == 2);
  auto move = f.l.transact([&](pqxx::work& w) { return ledger::apply_repull(w, pulling[0], "short"); });
  REQUIRE(move);
  CHECK(move->generation == 2);
  // The same decision applied twice (a second checker, a retry) changes nothing.
  CHECK_FALSE(f.l.transact([&](pqxx::work& w) { return ledger::apply_repull(w, pulling[0], "short"); }));
  CHECK_FALSE(f.l.transact([&](pqxx::work& w) { return ledger::apply_received(w, pulling[0], false, "x"); }));
}

TEST_CASE("Receiver: text in any charset is stored decoded, with its raw bytes beside it") {
  Fixture f;
  using rules::Text;
  // GBK bytes of "胸部" declared ISO_IR 100 (a lie), windows-1251 "Грудь" undeclared, a NUL and 0xFF.
  const std::string gbk_declared_latin1 = "\xD0\xD8\xB2\xBF";
  const std::string cp1251 = "\xC3\xF0\xF3\xE4\xFC";
  ledger::InstanceRow i = instance("st.9", "se.9", "sop.9", "/s", "", "", "20261121", "CT", "", 2, 10, "PACS", "r");
  i.accession_number = Text::decode("A\xFF\x00B", "");
  i.patient_id = Text::decode(cp1251, "");
  i.series_description = Text::decode(gbk_declared_latin1, "ISO_IR 100");
  core::AttributeMap a{{"SpecificCharacterSet", "ISO_IR 100"}, {"SeriesDescription", gbk_declared_latin1},
                       {"ProtocolName", "CHEST"}};
  i.series_raws = rules::raw_texts(a, {"SeriesDescription", "ProtocolName"});
  REQUIRE(i.series_raws.size() == 1);  // plain ASCII needs no forensic record
  auto r = f.l.transact([&](pqxx::work& w) { return ledger::record_instance(w, i); });
  CHECK(r.new_instance);
  CHECK(f.count("SELECT count(*) FROM instances WHERE sop_uid = 'sop.9'") == 1);
  CHECK(f.count("SELECT count(*) FROM text_raw WHERE attribute = 'SeriesDescription' AND "
                "raw = '\\xd0d8b2bf'::bytea AND specific_character_set = 'ISO_IR 100'::bytea") == 1);
  // What the ledger holds is valid UTF-8 (PostgreSQL would have refused it otherwise).
  CHECK(f.count("SELECT count(*) FROM series WHERE series_uid = 'se.9' AND description <> ''") == 1);
}

TEST_CASE("Receiver: a second copy with other content is a conflict; the first copy stays the instance") {
  Fixture f;
  using rules::Text;
  ledger::InstanceRow i = instance("st.8", "se.8", "sop.8", "/first", "A", "P", "", "CT", "", 1, 1, "PACS", "r");
  f.l.transact([&](pqxx::work& w) { ledger::record_instance(w, i); });
  f.l.transact([&](pqxx::work& w) {
    ledger::record_conflict(w, i, Text::from_utf8("/first"), Text::from_utf8("/aside/sop.8.conflict-1.dcm"));
  });
  f.l.transact([&](pqxx::work& w) {  // redelivered: idempotent
    ledger::record_conflict(w, i, Text::from_utf8("/first"), Text::from_utf8("/aside/sop.8.conflict-1.dcm"));
  });
  CHECK(f.count("SELECT count(*) FROM instance_conflicts WHERE sop_uid = 'sop.8'") == 1);
  CHECK(f.count("SELECT count(*) FROM events WHERE kind = 'conflict' AND study_uid = 'st.8'") == 1);
  CHECK(f.query("SELECT path FROM instances WHERE sop_uid = 'sop.8'") == "/first");
}
