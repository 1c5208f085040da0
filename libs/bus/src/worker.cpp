#include "pacspull/bus/worker.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace pacspull::bus {

Worker::Worker(Bus& bus, ConsumerSpec spec, Handler handler, std::chrono::milliseconds retry_delay,
               WorkerTuning tuning)
    : bus_(bus), spec_(std::move(spec)), handler_(std::move(handler)), retry_delay_(retry_delay), tuning_(tuning) {
  if (tuning_.batch < 1) tuning_.batch = 1;
}

Worker::~Worker() { stop(); }

void Worker::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stop_ = false;
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void Worker::stop() {
  std::thread t;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    wake_.notify_all();
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

bool Worker::running() const { return running_.load(); }

bool Worker::bound() const { return bound_.load(); }

uint64_t Worker::handled() const { return handled_.load(); }

void Worker::settle(Message& msg, Decision decision) {
  if (msg.settled()) {
    spdlog::warn("bus: handler on {}/{} settled {} seq {} itself; its decision is ignored", spec_.stream,
                 spec_.durable, msg.subject(), msg.stream_sequence());
    return;
  }
  switch (decision) {
    case Decision::Ack:
      msg.ack();
      break;
    case Decision::Retry:
      msg.nak(retry_delay_);
      break;
    case Decision::Park:
      msg.term();
      break;
  }
}

void Worker::run() {
  const std::string where = spec_.stream + "/" + spec_.durable;
  std::unique_ptr<Puller> puller;
  while (!stop_) {
    if (!puller) {
      try {
        puller = bus_.pull(spec_);
        bound_ = true;
        spdlog::info("bus: worker on {} started", where);
      } catch (const std::exception& e) {
        // The consumer or the server is not there yet: keep trying, never exit the loop.
        spdlog::warn("bus: worker on {} cannot bind yet ({}); retrying in {} ms", where, e.what(),
                     retry_delay_.count());
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, retry_delay_, [this] { return stop_.load(); });
        continue;
      }
    }
    auto batch = puller->fetch(tuning_.batch, tuning_.fetch_timeout);
    for (auto& msg : batch) {
      if (stop_) {
        // Not started: hand it straight back so another worker takes it now.
        msg.nak();
        continue;
      }
      Decision decision = Decision::Retry;
      try {
        decision = handler_(msg);
      } catch (const std::exception& e) {
        spdlog::warn("bus: handler on {} threw for {} seq {} (delivery {}): {}; retrying in {} ms", where,
                     msg.subject(), msg.stream_sequence(), msg.delivered(), e.what(), retry_delay_.count());
      } catch (...) {
        spdlog::warn("bus: handler on {} threw a non-exception for {} seq {}; retrying in {} ms", where,
                     msg.subject(), msg.stream_sequence(), retry_delay_.count());
      }
      settle(msg, decision);
      ++handled_;
    }
  }
  bound_ = false;
  running_ = false;
  spdlog::info("bus: worker on {} stopped after {} messages", where, handled_.load());
}

}  // namespace pacspull::bus
