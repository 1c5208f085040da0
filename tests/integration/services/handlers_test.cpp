// The services' handlers driven directly (their apps are libraries, pacspull::<svc>_app)
// against a real PostgreSQL ledger and, for the checker, a real nats-server: no service
// process is started. Each step is a transition of the study state machine
// (pipeline/state.hpp); what the table refuses leaves the ledger untouched.
#include <catch2/catch.hpp>

#include "../bus/nats_server.hpp"
#include "checker_app.hpp"
#include "dispatcher_app.hpp"
#include "pacspull/config/site_config.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/dispatcher_store.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"
#include "test_db.hpp"

using namespace std::chrono_literals;
namespace ledger = pacspull::ledger;
namespace runtime = pacspull::runtime;
namespace events = pacspull::events;
using pacspull::bus::testing::fetch_at_least;
using pacspull::bus::testing::NatsServer;
using pacspull::bus::testing::test_options;

namespace {

// The handlers' `now`: fixed, so "quiet for StableAge" needs no waiting.
class FixedClock final : public runtime::Clock {
 public:
  explicit FixedClock(pacspull::core::Time t) : t_(t) {}
  pacspull::core::Time now() const override { return t_; }

 private:
  pacspull::core::Time t_;
};

const char* kSite = R"(site: handlers-test
ledger: {url: "postgresql://unused@127.0.0.1/db"}
bus: {url: "nats://127.0.0.1:4222"}
pacs:
  - {name: main, ae_title: PACS, host: 127.0.0.1, port: 104}
checker: {stable_age: 30s, max_repulls: 2}
targets:
  - {name: worklist, kind: bus}
  - {name: ct-only, kind: bus, families: [CT]}
)";

runtime::Context context(const std::string& service, const std::string& db_url, pacspull::core::Time now) {
  runtime::Context ctx;
  ctx.service = service;
  ctx.config = pacspull::config::parse_site_config(kSite, "handlers-test.yaml");
  ctx.ledger = std::make_unique<ledger::Ledger>(db_url);
  ctx.metrics = std::make_unique<pacspull::metrics::Metrics>(0, service);
  ctx.clock = std::make_shared<FixedClock>(now);
  return ctx;
}

// A study with `held` instances in one series, last activity an hour before `now`.
void add_study(ledger::Ledger& l, const std::string& uid, const std::string& state, int generation,
               std::optional<int> pacs_instances, int held, const std::string& modality = "CT") {
  l.transact([&](pqxx::work& w) {
    w.exec_params(R"sql(INSERT INTO studies (study_uid, state, generation, filtered_generation, pacs_instances,
                          last_instance_at, state_changed_at)
                        VALUES ($1, $2, $3, $3, $4, now() - interval '1 hour', now() - interval '1 hour'))sql",
                  uid, state, generation, pacs_instances);
    w.exec_params("INSERT INTO series (series_uid, study_uid, modality, series_number, first_instance_path) "
                  "VALUES ($1 || '.1', $1, $2, 1, '/store/' || $1 || '/1.dcm')",
                  uid, modality);
    for (int i = 1; i <= held; ++i)
      w.exec_params("INSERT INTO instances (sop_uid, series_uid, study_uid, path) VALUES ($1 || '.1.' || $2, $1 || '.1', "
                    "$1, '/store/' || $1 || '/' || $2 || '.dcm')",
                    uid, i);
  });
}

std::string state_of(ledger::Ledger& l, const std::string& uid) {
  return l.transact([&](pqxx::work& w) {
    return std::string(w.exec_params1("SELECT state FROM studies WHERE study_uid = $1", uid)[0].c_str());
  });
}
long scalar(ledger::Ledger& l, const std::string& sql, const std::string& uid) {
  return l.transact([&](pqxx::work& w) { return w.exec_params1(sql, uid)[0].as<long>(); });
}

}  // namespace

TEST_CASE("Checker handler: a complete study is received, a short one re-pulled, others left alone") {
  pacspull::testing::TestDatabase db;
  NatsServer nats;
  auto ctx = context("checker", db.url(), pacspull::core::Clock::now());
  ctx.ledger->migrate();
  ctx.bus = pacspull::bus::Bus::connect(test_options(nats, "handlers-test"));
  runtime::declare_pipeline(*ctx.bus);
  auto to_filter = ctx.bus->pull(runtime::filter_consumer());
  auto to_mover = ctx.bus->pull(runtime::mover_consumer());

  add_study(*ctx.ledger, "1.2.9.1", "pulling", 1, 3, 3);   // complete
  add_study(*ctx.ledger, "1.2.9.2", "pulling", 1, 5, 3);   // short: re-pull
  add_study(*ctx.ledger, "1.2.9.3", "queued", 1, 4, 0);    // the mover's: no checker transition
  add_study(*ctx.ledger, "1.2.9.4", "completed", 1, 2, 2); // settled

  pacspull::services::CheckerApp checker(ctx);
  const auto sum = checker.scan_once();
  CHECK(sum.received == 1);
  CHECK(sum.repulled == 1);

  CHECK(state_of(*ctx.ledger, "1.2.9.1") == "received");
  CHECK(state_of(*ctx.ledger, "1.2.9.2") == "queued");
  CHECK(scalar(*ctx.ledger, "SELECT generation FROM studies WHERE study_uid = $1", "1.2.9.2") == 2);
  CHECK(scalar(*ctx.ledger, "SELECT repulls FROM studies WHERE study_uid = $1", "1.2.9.2") == 1);
  CHECK(state_of(*ctx.ledger, "1.2.9.3") == "queued");
  CHECK(state_of(*ctx.ledger, "1.2.9.4") == "completed");
  CHECK(scalar(*ctx.ledger, "SELECT count(*) FROM events WHERE study_uid = $1 AND kind = 'received'", "1.2.9.1") == 1);
  CHECK(scalar(*ctx.ledger, "SELECT count(*) FROM events WHERE study_uid = $1 AND kind = 'repull'", "1.2.9.2") == 1);

  // The hand-offs reached the bus: the filter's work and the mover's.
  auto received = fetch_at_least(*to_filter, 1, 10s);
  REQUIRE(received.size() == 1);
  events::v1::StudyReceived r;
  REQUIRE(r.ParseFromString(std::string(received[0].data())));
  CHECK(r.study_instance_uid() == "1.2.9.1");
  CHECK(r.generation() == 1);
  received[0].ack();
  auto moves = fetch_at_least(*to_mover, 1, 10s);
  REQUIRE(moves.size() == 1);
  moves[0].ack();

  // A second scan finds nothing new: every transition happened once.
  const auto again = checker.scan_once();
  CHECK(again.received == 0);
  CHECK(again.repulled == 0);
  CHECK(state_of(*ctx.ledger, "1.2.9.1") == "received");
}

TEST_CASE("Dispatcher handler: queues per target, settles what no target takes, ignores what it may not touch") {
  pacspull::testing::TestDatabase db;
  auto ctx = context("dispatcher", db.url(), pacspull::core::Clock::now());
  ctx.ledger->migrate();
  pacspull::services::DispatcherApp dispatcher(ctx);
  auto filtered = [](const std::string& uid, int generation) {
    events::v1::StudyReceived m;
    m.set_study_instance_uid(uid);
    m.set_generation(generation);
    return m;
  };
  auto verdict = [&](const std::string& uid, const char* v, const char* family) {
    ctx.ledger->transact([&](pqxx::work& w) {
      w.exec_params("UPDATE series SET verdict = $2, family = $3, verdict_generation = 1, verdict_reason = 'test' "
                    "WHERE study_uid = $1",
                    uid, v, family);
    });
  };

  // A DX study passed by the filter: the target taking every family gets a dispatch, the
  // CT-only target none; the study stays received until the dispatch is sent.
  add_study(*ctx.ledger, "1.2.8.1", "received", 1, 2, 2, "DX");
  verdict("1.2.8.1", "pass", "DX");
  CHECK(dispatcher.on_filtered(filtered("1.2.8.1", 1)) == pacspull::bus::Decision::Ack);
  CHECK(scalar(*ctx.ledger, "SELECT count(*) FROM dispatches WHERE study_uid = $1", "1.2.8.1") == 1);
  CHECK(scalar(*ctx.ledger, "SELECT count(*) FROM dispatches WHERE study_uid = $1 AND target = 'worklist' "
                            "AND version = 1 AND status = 'pending'",
               "1.2.8.1") == 1);
  CHECK(state_of(*ctx.ledger, "1.2.8.1") == "received");
  // Redelivery changes nothing.
  CHECK(dispatcher.on_filtered(filtered("1.2.8.1", 1)) == pacspull::bus::Decision::Ack);
  CHECK(scalar(*ctx.ledger, "SELECT count(*) FROM dispatches WHERE study_uid = $1", "1.2.8.1") == 1);

  // The dispatch sent: Transition::Complete, once.
  ctx.ledger->transact([&](pqxx::work& w) {
    auto d = ledger::claim_next_dispatch(w, "worklist", "test:1", 60s);
    REQUIRE(d);
    CHECK(d->study_uid == "1.2.8.1");
    for (const auto& i : ledger::unsent_instances(w, d->id)) ledger::mark_sent(w, d->id, {i.sop_uid});
    CHECK(ledger::finish_dispatch(w, d->id, d->study_uid, d->generation).study_completed);
  });
  CHECK(state_of(*ctx.ledger, "1.2.8.1") == "completed");
  CHECK(scalar(*ctx.ledger, "SELECT dispatched_generation FROM studies WHERE study_uid = $1", "1.2.8.1") == 1);

  // Every series failed the filter: no target takes it, Transition::SettleUnsupported.
  add_study(*ctx.ledger, "1.2.8.2", "received", 1, 3, 3, "CT");
  verdict("1.2.8.2", "fail", "CT");
  CHECK(dispatcher.on_filtered(filtered("1.2.8.2", 1)) == pacspull::bus::Decision::Ack);
  CHECK(state_of(*ctx.ledger, "1.2.8.2") == "unsupported");
  CHECK(scalar(*ctx.ledger, "SELECT count(*) FROM dispatches WHERE study_uid = $1", "1.2.8.2") == 0);
  CHECK(scalar(*ctx.ledger, "SELECT count(*) FROM events WHERE study_uid = $1 AND kind = 'unsupported'", "1.2.8.2") ==
        1);

  // A study still pulling (a reopen raced the message) and a stale generation: untouched.
  add_study(*ctx.ledger, "1.2.8.3", "pulling", 2, 3, 3, "DX");
  verdict("1.2.8.3", "pass", "DX");
  CHECK(dispatcher.on_filtered(filtered("1.2.8.3", 2)) == pacspull::bus::Decision::Ack);
  CHECK(dispatcher.on_filtered(filtered("1.2.8.3", 1)) == pacspull::bus::Decision::Ack);
  CHECK(state_of(*ctx.ledger, "1.2.8.3") == "pulling");
  CHECK(scalar(*ctx.ledger, "SELECT count(*) FROM dispatches WHERE study_uid = $1", "1.2.8.3") == 0);

  // The store refuses a settle the table does not allow (the study is pulling again).
  const bool settled = ctx.ledger->transact([&](pqxx::work& w) {
    return ledger::settle_without_dispatch(w, "1.2.8.3", 2, pacspull::pipeline::Transition::SettleUnsupported, "x");
  });
  CHECK_FALSE(settled);
  CHECK(state_of(*ctx.ledger, "1.2.8.3") == "pulling");
  // Completing is finish_dispatch's transition, not a settle: refused as a programming error.
  CHECK_THROWS(ctx.ledger->transact([&](pqxx::work& w) {
    return ledger::settle_without_dispatch(w, "1.2.8.3", 2, pacspull::pipeline::Transition::Complete, "x");
  }));
}
