#pragma once
// Relays a service's transactional outbox (ledger table `outbox`) to the bus: every event
// is published with its own message id until the bus acknowledges it, then marked
// published. A crash between the two publishes it again under the same id: the bus's
// duplicate window drops it, and consumers are idempotent by id beyond that window.
// Failed attempts back off exponentially (1 s doubling, capped at 60 s), logged and counted.
//
// Thread-safety: relay_once() may be called from any thread; start() runs it on a thread of
// its own every `interval` and whenever notify() is called; stop() joins.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "pacspull/bus/bus.hpp"
#include "pacspull/core/time.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/metrics/metrics.hpp"
#include "pacspull/pipeline/retry.hpp"

namespace pacspull::services {

class OutboxRelay {
 public:
  struct Options {
    std::string service;
    int batch = 100;
    std::chrono::milliseconds interval{1000};
    // Waits between attempts of one event; it is never given up (max_attempts unused).
    pipeline::RetryPolicy backoff{0, core::Seconds(1), core::Seconds(60)};
  };
  struct Pass {
    int published = 0, failed = 0;
  };
  // `metrics` may be null (tests).
  OutboxRelay(ledger::Ledger& ledger, bus::Bus& bus, metrics::Metrics* metrics, Options options);
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  Pass relay_once(core::Time now);
  void start();
  void notify();
  void stop();

 private:
  ledger::Ledger& ledger_;
  bus::Bus& bus_;
  metrics::Metrics* metrics_;
  Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pacspull::services
