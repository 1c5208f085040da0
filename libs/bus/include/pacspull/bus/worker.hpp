#pragma once
// A consumer loop over one durable pull consumer: fetch, call the handler, settle the
// message from the handler's decision. The handler commits to the ledger before it
// returns Ack; the worker acks only after the handler returned, so a crash in between
// means a redelivery, never a loss.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "pacspull/bus/bus.hpp"

namespace pacspull::bus {

enum class Decision {
  Ack,    // done (ledger committed)
  Retry,  // nak with the worker's retry delay: transient failure (peer down, DB busy)
  Park,   // term: poison; the handler recorded it in the ledger first
};

// Called on the worker thread, one message at a time. An exception counts as Retry
// (logged at warn); it never stops the loop. The handler may call msg.in_progress() for
// long work, but must not settle the message itself.
using Handler = std::function<Decision(Message&)>;

struct WorkerTuning {
  int batch = 1;  // messages per fetch; >1 only for short handlers (ack_wait runs per message)
  std::chrono::milliseconds fetch_timeout{1000};  // also bounds how long stop() waits for a fetch
};

class Worker {
 public:
  Worker(Bus& bus, ConsumerSpec spec, Handler handler,
         std::chrono::milliseconds retry_delay = std::chrono::seconds(5), WorkerTuning tuning = {});
  ~Worker();  // stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();  // spawns the loop thread; no-op if running
  // Finishes the message in hand, naks (without delay) the rest of the batch so another
  // worker takes them at once, and joins. Idempotent; safe from any thread except the
  // handler itself.
  void stop();
  bool running() const;      // between start() and the end of the loop
  bool bound() const;        // the loop holds a Puller on the durable
  uint64_t handled() const;  // messages whose decision was applied (whatever it was)

 private:
  void run();
  void settle(Message& msg, Decision decision);

  Bus& bus_;
  ConsumerSpec spec_;
  Handler handler_;
  std::chrono::milliseconds retry_delay_;
  WorkerTuning tuning_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> bound_{false};
  std::atomic<uint64_t> handled_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace pacspull::bus
