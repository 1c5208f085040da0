// Streams, durables, publish/fetch/settle against a real nats-server with JetStream.
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>

#include "nats_server.hpp"
#include "pacspull/bus/bus.hpp"
#include "process.hpp"

using namespace std::chrono_literals;
using pacspull::bus::Bus;
using pacspull::bus::BusError;
using pacspull::bus::ConsumerSpec;
using pacspull::bus::Message;
using pacspull::bus::PublishStatus;
using pacspull::bus::StreamSpec;
using pacspull::bus::testing::fetch_at_least;
using pacspull::bus::testing::NatsServer;
using pacspull::bus::testing::test_options;
using pacspull::testing::wait_for;

namespace {

StreamSpec stream_spec(const std::string& name, bool work_queue = false) {
  StreamSpec s;
  s.name = name;
  s.subjects = {"pacspull.move.>"};
  s.work_queue = work_queue;
  return s;
}

ConsumerSpec consumer_spec(const std::string& stream, const std::string& durable, std::chrono::seconds ack_wait = 30s) {
  ConsumerSpec c;
  c.stream = stream;
  c.durable = durable;
  c.filter_subject = "pacspull.move.request";
  c.ack_wait = ack_wait;
  return c;
}

}  // namespace

TEST_CASE("connect to a port with no server throws a retryable BusError in bounded time", "[bus]") {
  auto port = pacspull::testing::free_tcp_port();
  pacspull::bus::Options o;
  o.url = "nats://127.0.0.1:" + std::to_string(port);
  o.connect_timeout = 500ms;
  o.connect_attempts = 3;
  o.reconnect_wait = 100ms;
  auto t0 = std::chrono::steady_clock::now();
  bool retryable = false;
  try {
    Bus::connect(o);
    FAIL("connect succeeded without a server");
  } catch (const BusError& e) {
    retryable = e.retryable();
  }
  CHECK(retryable);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}

TEST_CASE("a server list connects to the one that answers", "[bus]") {
  NatsServer server;
  auto o = test_options(server, "list");
  o.url = "nats://127.0.0.1:" + std::to_string(pacspull::testing::free_tcp_port()) + ", " + server.url();
  auto bus = Bus::connect(o);
  CHECK(bus->connected());
}

TEST_CASE("ensure_stream and ensure_consumer are idempotent, also after a server restart", "[bus]") {
  NatsServer server;
  auto bus = Bus::connect(test_options(server, "idempotent"));
  REQUIRE(bus->connected());

  auto stream = stream_spec("MOVES");
  auto consumer = consumer_spec("MOVES", "mover");
  bus->ensure_stream(stream);
  bus->ensure_stream(stream);
  bus->ensure_consumer(consumer);
  bus->ensure_consumer(consumer);
  CHECK(bus->consumer_exists("MOVES", "mover"));

  // A changed setting is applied in place, not refused.
  stream.max_age = std::chrono::hours(48);
  bus->ensure_stream(stream);
  consumer.ack_wait = 45s;
  bus->ensure_consumer(consumer);
  bus->ensure_consumer(consumer);

  // Binding and destroying a Puller leaves the durable in place.
  {
    auto puller = bus->pull(consumer);
    CHECK(puller->fetch(1, 100ms).empty());
  }
  CHECK(bus->consumer_exists("MOVES", "mover"));

  // A consumer on a stream that does not exist is a configuration error.
  CHECK_THROWS_AS(bus->ensure_consumer(consumer_spec("NOPE", "mover")), BusError);
  CHECK_THROWS_AS(bus->pull(consumer_spec("MOVES", "nobody")), BusError);
  CHECK_THROWS_AS(bus->ensure_stream(stream_spec("bad.name")), BusError);

  server.stop();
  REQUIRE(wait_for([&] { return !bus->connected(); }, 10s));
  server.start();
  REQUIRE(bus->wait_connected(15s));
  CHECK(bus->counters().reconnects >= 1);
  bus->ensure_stream(stream);
  bus->ensure_consumer(consumer);
  CHECK(bus->consumer_exists("MOVES", "mover"));
}

TEST_CASE("publish, fetch, ack; a duplicate msg_id is stored and delivered once", "[bus]") {
  NatsServer server;
  auto bus = Bus::connect(test_options(server, "roundtrip"));
  bus->ensure_stream(stream_spec("MOVES"));
  auto consumer = consumer_spec("MOVES", "mover");
  bus->ensure_consumer(consumer);
  auto puller = bus->pull(consumer);

  auto first = bus->publish("pacspull.move.request", "study-1", "1.2.3:move");
  REQUIRE(first.status == PublishStatus::Ok);
  CHECK(first.sequence == 1);
  auto again = bus->publish("pacspull.move.request", "study-1", "1.2.3:move");
  CHECK(again.status == PublishStatus::Duplicate);
  CHECK(again.ok());
  auto second = bus->publish("pacspull.move.request", std::string("bin\0ary", 7), "1.2.4:move");
  REQUIRE(second.status == PublishStatus::Ok);
  CHECK(second.sequence == 2);
  CHECK(bus->stream_messages("MOVES") == 2);

  auto got = fetch_at_least(*puller, 2, 10s);
  REQUIRE(got.size() == 2);
  CHECK(got[0].subject() == "pacspull.move.request");
  CHECK(got[0].data() == "study-1");
  CHECK(got[0].msg_id() == "1.2.3:move");
  CHECK(got[0].delivered() == 1);
  CHECK(got[0].stream_sequence() == 1);
  CHECK(got[1].data() == std::string_view("bin\0ary", 7));
  CHECK(got[1].msg_id() == "1.2.4:move");
  for (auto& m : got) CHECK(m.ack());
  CHECK(got[0].settled());
  // A second settlement is refused locally (libnats would silently report success).
  CHECK_FALSE(got[0].term());
  CHECK_FALSE(got[0].ack());

  // Nothing else arrives: the duplicate was never stored.
  CHECK(puller->fetch(10, 1500ms).empty());
  auto c = bus->counters();
  CHECK(c.published == 2);
  CHECK(c.duplicates == 1);
  CHECK(c.acked == 2);
  CHECK(c.publish_failures == 0);
}

TEST_CASE("work-queue stream: an acked message leaves the stream", "[bus]") {
  NatsServer server;
  auto bus = Bus::connect(test_options(server, "workqueue"));
  bus->ensure_stream(stream_spec("WORK", true));
  auto consumer = consumer_spec("WORK", "worker");
  bus->ensure_consumer(consumer);
  auto puller = bus->pull(consumer);
  REQUIRE(bus->publish("pacspull.move.request", "x", "wq-1").status == PublishStatus::Ok);
  CHECK(bus->stream_messages("WORK") == 1);
  auto got = fetch_at_least(*puller, 1, 10s);
  REQUIRE(got.size() == 1);
  REQUIRE(got[0].ack());
  CHECK(wait_for([&] { return bus->stream_messages("WORK") == 0; }, 5s));
}

TEST_CASE("publish to a subject no stream captures is retryable (no responders)", "[bus]") {
  NatsServer server;
  auto bus = Bus::connect(test_options(server, "noresponders"));
  auto r = bus->publish("pacspull.nowhere", "x", "n-1");
  CHECK(r.status == PublishStatus::Retryable);
  CHECK_FALSE(r.error.empty());
  CHECK(bus->counters().publish_failures == 1);
  CHECK(bus->counters().publish_retries == 2);
}

TEST_CASE("nak redelivers with delivered()==2, nak delay is honoured, term never redelivers", "[bus]") {
  NatsServer server;
  auto bus = Bus::connect(test_options(server, "settle"));
  bus->ensure_stream(stream_spec("MOVES"));
  auto consumer = consumer_spec("MOVES", "mover", 1s);
  bus->ensure_consumer(consumer);
  auto puller = bus->pull(consumer);

  SECTION("nak without delay") {
    REQUIRE(bus->publish("pacspull.move.request", "a", "a").status == PublishStatus::Ok);
    auto got = fetch_at_least(*puller, 1, 10s);
    REQUIRE(got.size() == 1);
    CHECK(got[0].delivered() == 1);
    REQUIRE(got[0].nak());
    auto again = fetch_at_least(*puller, 1, 10s);
    REQUIRE(again.size() == 1);
    CHECK(again[0].msg_id() == "a");
    CHECK(again[0].delivered() == 2);
    CHECK(again[0].ack());
    CHECK(bus->counters().naked == 1);
  }

  SECTION("nak with delay") {
    // ack_wait 1 s < delay 2.5 s: the server's own nak-delay timer must win.
    REQUIRE(bus->publish("pacspull.move.request", "b", "b").status == PublishStatus::Ok);
    auto got = fetch_at_least(*puller, 1, 10s);
    REQUIRE(got.size() == 1);
    auto naked_at = std::chrono::steady_clock::now();
    REQUIRE(got[0].nak(2500ms));
    auto again = fetch_at_least(*puller, 1, 15s);
    auto waited = std::chrono::steady_clock::now() - naked_at;
    REQUIRE(again.size() == 1);
    CHECK(again[0].delivered() == 2);
    CHECK(waited >= 2000ms);
    CHECK(waited < 8s);
    CHECK(again[0].ack());
  }

  SECTION("term") {
    REQUIRE(bus->publish("pacspull.move.request", "poison", "p").status == PublishStatus::Ok);
    REQUIRE(bus->publish("pacspull.move.request", "fine", "f").status == PublishStatus::Ok);
    auto got = fetch_at_least(*puller, 2, 10s);
    REQUIRE(got.size() == 2);
    REQUIRE(got[0].data() == "poison");
    CHECK(got[0].term());
    CHECK(got[1].ack());
    // Well past ack_wait (1 s): nothing comes back.
    CHECK(fetch_at_least(*puller, 1, 3s).empty());
    CHECK(bus->counters().parked == 1);
  }

  SECTION("no ack within ack_wait redelivers") {
    REQUIRE(bus->publish("pacspull.move.request", "slow", "s").status == PublishStatus::Ok);
    auto got = fetch_at_least(*puller, 1, 10s);
    REQUIRE(got.size() == 1);
    auto fetched_at = std::chrono::steady_clock::now();
    auto again = fetch_at_least(*puller, 1, 10s);
    REQUIRE(again.size() == 1);
    CHECK(std::chrono::steady_clock::now() - fetched_at >= 800ms);
    CHECK(again[0].msg_id() == "s");
    CHECK(again[0].delivered() == 2);
    CHECK(again[0].ack());
    // The stale first delivery can no longer be settled meaningfully, but must not crash.
    got[0].ack();
  }

  SECTION("in_progress extends ack_wait") {
    REQUIRE(bus->publish("pacspull.move.request", "long", "l").status == PublishStatus::Ok);
    auto got = fetch_at_least(*puller, 1, 10s);
    REQUIRE(got.size() == 1);
    // Keep it alive for 2.5 x ack_wait, then ack: no redelivery may happen meanwhile.
    auto until = std::chrono::steady_clock::now() + 2500ms;
    std::vector<Message> stray;
    while (std::chrono::steady_clock::now() < until) {
      REQUIRE(got[0].in_progress());
      for (auto& m : puller->fetch(1, 300ms)) stray.push_back(std::move(m));
    }
    CHECK(stray.empty());
    CHECK(got[0].ack());
  }
}

TEST_CASE("several durables on one stream each see every message", "[bus]") {
  NatsServer server;
  auto bus = Bus::connect(test_options(server, "fanout"));
  StreamSpec events;
  events.name = "EVENTS";
  events.subjects = {"pacspull.events.>"};
  bus->ensure_stream(events);
  ConsumerSpec audit{"EVENTS", "audit", "", 30s};
  ConsumerSpec stable{"EVENTS", "stable", "pacspull.events.stable", 30s};
  bus->ensure_consumer(audit);
  bus->ensure_consumer(stable);
  REQUIRE(bus->publish("pacspull.events.new", "n", "e1").ok());
  REQUIRE(bus->publish("pacspull.events.stable", "s", "e2").ok());
  auto all = bus->pull(audit);
  auto only_stable = bus->pull(stable);
  auto a = fetch_at_least(*all, 2, 10s);
  auto s = fetch_at_least(*only_stable, 1, 10s);
  REQUIRE(a.size() == 2);
  REQUIRE(s.size() == 1);
  CHECK(s[0].subject() == "pacspull.events.stable");
  std::set<std::string> subjects;
  for (auto& m : a) {
    subjects.insert(m.subject());
    CHECK(m.ack());
  }
  CHECK(subjects == std::set<std::string>{"pacspull.events.new", "pacspull.events.stable"});
  CHECK(s[0].ack());
  CHECK(only_stable->fetch(5, 500ms).empty());
}
