// Worker loop against a real nats-server: exceptions are retried, Park terms.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "nats_server.hpp"
#include "pacspull/bus/bus.hpp"
#include "pacspull/bus/worker.hpp"
#include "process.hpp"

using namespace std::chrono_literals;
using pacspull::bus::Bus;
using pacspull::bus::ConsumerSpec;
using pacspull::bus::Decision;
using pacspull::bus::Message;
using pacspull::bus::StreamSpec;
using pacspull::bus::Worker;
using pacspull::bus::testing::declare_work;
using pacspull::bus::testing::NatsServer;
using pacspull::bus::testing::test_options;
using pacspull::testing::wait_for;

namespace {

struct Seen {
  std::mutex mutex;
  std::map<std::string, int> calls;            // payload -> handler calls
  std::map<std::string, uint64_t> delivered;   // payload -> delivered() at the last call
  std::map<std::string, std::string> outcome;  // payload -> what the handler decided last

  int count(const std::string& k) {
    std::lock_guard lock(mutex);
    return calls.count(k) ? calls[k] : 0;
  }
};

}  // namespace

TEST_CASE("worker: a throwing handler is retried, Park terms, Ack acks", "[bus][worker]") {
  NatsServer server;
  auto bus = Bus::connect(test_options(server, "worker"));
  ConsumerSpec consumer = declare_work(*bus, "RECEIVED", "pacspull.series.received", "selector", 2s);

  Seen seen;
  Worker worker(
      *bus, consumer,
      [&](Message& m) {
        std::string key(m.data());
        std::lock_guard lock(seen.mutex);
        int n = ++seen.calls[key];
        seen.delivered[key] = m.delivered();
        if (key == "flaky" && n == 1) {
          seen.outcome[key] = "threw";
          throw std::runtime_error("ledger busy");
        }
        if (key == "poison") {
          seen.outcome[key] = "parked";
          return Decision::Park;
        }
        if (key == "retry" && n < 3) {
          seen.outcome[key] = "retry";
          return Decision::Retry;
        }
        seen.outcome[key] = "acked";
        return Decision::Ack;
      },
      200ms, {.batch = 4, .fetch_timeout = 300ms});
  worker.start();

  for (const char* k : {"ok", "flaky", "poison", "retry"})
    REQUIRE(bus->publish("pacspull.series.received", k, std::string(k) + "-id").ok());

  REQUIRE(wait_for(
      [&] {
        std::lock_guard lock(seen.mutex);  // worker.handled() counts after settling
        return seen.outcome["ok"] == "acked" && seen.outcome["flaky"] == "acked" && seen.outcome["retry"] == "acked" &&
               seen.outcome["poison"] == "parked" && worker.handled() >= 7;
      },
      20s));
  {
    std::lock_guard lock(seen.mutex);
    CHECK(seen.calls["flaky"] == 2);
    CHECK(seen.delivered["flaky"] == 2);
    CHECK(seen.calls["retry"] == 3);
    CHECK(seen.delivered["retry"] == 3);
    CHECK(seen.calls["ok"] == 1);
  }
  // Beyond ack_wait (2 s) the parked message has not come back.
  auto handled_before = worker.handled();
  auto c = bus->counters();
  CHECK(c.parked == 1);
  CHECK(c.naked == 3);  // flaky once, retry twice
  CHECK(c.acked == 3);
  CHECK_FALSE(wait_for([&] { return seen.count("poison") > 1; }, 3s));
  CHECK(worker.handled() == handled_before);
  CHECK(handled_before == 7);

  worker.stop();
  CHECK_FALSE(worker.running());
  // Stop is idempotent and a stopped worker can be started again.
  worker.stop();
  worker.start();
  REQUIRE(bus->publish("pacspull.series.received", "late", "late-id").ok());
  CHECK(wait_for([&] { return seen.count("late") == 1; }, 10s));
  worker.stop();
}

TEST_CASE("worker started before its consumer exists binds once it appears", "[bus][worker]") {
  NatsServer server;
  auto bus = Bus::connect(test_options(server, "worker-late"));
  StreamSpec stream;
  stream.name = "STUDIES";
  stream.subjects = {"pacspull.study.received"};
  bus->ensure_stream(stream);
  ConsumerSpec consumer{"STUDIES", "dispatcher", "pacspull.study.received", 5s};
  std::atomic<int> calls{0};
  Worker worker(*bus, consumer, [&](Message&) {
    ++calls;
    return Decision::Ack;
  }, 200ms);
  worker.start();
  // No durable yet: the worker keeps retrying instead of exiting or throwing.
  CHECK_FALSE(wait_for([&] { return worker.bound(); }, 700ms));
  CHECK(worker.running());
  bus->ensure_consumer(consumer);
  REQUIRE(wait_for([&] { return worker.bound(); }, 10s));
  REQUIRE(bus->publish("pacspull.study.received", "s", "s-1").ok());
  CHECK(wait_for([&] { return calls.load() == 1; }, 10s));
}
