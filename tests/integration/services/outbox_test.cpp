// The transactional outbox against real PostgreSQL and a real nats-server: an event
// committed with its state change reaches the bus exactly once, even when the bus is
// down for longer than any publish retry and the relay "crashes" between publishing and
// recording it.
#include <catch2/catch.hpp>

#include "../bus/nats_server.hpp"
#include "outbox_relay.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/outbox.hpp"
#include "test_db.hpp"

using namespace std::chrono_literals;
using pacspull::bus::testing::declare_work;
using pacspull::bus::testing::fetch_at_least;
using pacspull::bus::testing::NatsServer;
using pacspull::bus::testing::test_options;
namespace ledger = pacspull::ledger;
using pacspull::services::OutboxRelay;

namespace {
long count(ledger::Ledger& l, const std::string& sql) {
  return l.transact([&](pqxx::work& w) { return w.exec1(sql)[0].as<long>(); });
}
}  // namespace

TEST_CASE("Outbox: an event committed while the bus is down arrives once when it is back") {
  pacspull::testing::TestDatabase db;
  ledger::Ledger l(db.url());
  l.migrate();
  NatsServer nats;
  auto bus = pacspull::bus::Bus::connect(test_options(nats, "outbox-test"));
  auto consumer = declare_work(*bus, "DISPATCH_TEST", "pacspull.dispatch.done", "backend", 30s);
  auto puller = bus->pull(consumer);
  OutboxRelay relay(l, *bus, nullptr, {"dispatcher", 100, 1000ms, {}});

  // The state change and its event commit together; redelivery adds nothing.
  for (int i = 0; i < 2; ++i)
    l.transact([](pqxx::work& w) {
      ledger::enqueue_event(w, "dispatcher", "pacspull.dispatch.done", "dispatch.1.2.3.1", "payload-1");
    });
  REQUIRE(count(l, "SELECT count(*) FROM outbox") == 1);

  // The bus is gone for longer than every retry inside one publish.
  nats.stop();
  auto now = pacspull::core::Clock::now();
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto pass = relay.relay_once(now);
    CHECK(pass.published == 0);
    CHECK(pass.failed == 1);
    now += 2min;  // every retry is due again after the backoff
  }
  CHECK(count(l, "SELECT attempts FROM outbox") == 3);
  CHECK(count(l, "SELECT count(*) FROM outbox WHERE published_at IS NULL AND last_error <> ''") == 1);

  nats.start();
  REQUIRE(pacspull::testing::wait_for([&] { return bus->connected(); }, 20s));
  // Not due before its backoff: nothing is hammered.
  CHECK(relay.relay_once(pacspull::core::Clock::now() - 10min).published == 0);
  auto pass = relay.relay_once(now);
  CHECK(pass.published == 1);
  CHECK(count(l, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0);

  // A relay that crashed after the bus acknowledged but before the ledger recorded it
  // publishes again under the same id: the bus drops the copy.
  l.transact([](pqxx::work& w) { w.exec("UPDATE outbox SET published_at = NULL"); });
  CHECK(relay.relay_once(now).published == 1);

  auto got = fetch_at_least(*puller, 2, 3s);
  REQUIRE(got.size() == 1);
  CHECK(got[0].data() == "payload-1");
  got[0].ack();
}
