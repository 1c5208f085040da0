#include "outbox_relay.hpp"

#include <spdlog/spdlog.h>

#include "pacspull/ledger/outbox.hpp"

namespace pacspull::services {

OutboxRelay::OutboxRelay(ledger::Ledger& ledger, bus::Bus& bus, metrics::Metrics* metrics, Options options)
    : ledger_(ledger), bus_(bus), metrics_(metrics), options_(std::move(options)) {}

OutboxRelay::~OutboxRelay() { stop(); }

OutboxRelay::Pass OutboxRelay::relay_once(core::Time now) {
  Pass pass;
  std::vector<ledger::OutboxEvent> due;
  try {
    due = ledger_.transact(
        [&](pqxx::work& w) { return ledger::due_events(w, options_.service, now, options_.batch); });
  } catch (const std::exception& e) {
    spdlog::warn("{}: outbox: cannot read the ledger ({}); events wait there", options_.service,
                 rules::Text::from_utf8(e.what()).str());
    return pass;
  }
  for (const auto& ev : due) {
    bus::PublishResult r = bus_.publish(ev.subject, ev.payload, ev.msg_id);
    try {
      if (r.ok()) {
        ledger_.transact([&](pqxx::work& w) { ledger::mark_published(w, ev.id, core::Clock::now()); });
        ++pass.published;
        if (metrics_)
          metrics_->counter("pacspull_outbox_published_total", "outbox events the bus acknowledged",
                            {{"subject", ev.subject}})
              .Increment();
      } else {
        ++pass.failed;
        const core::Time next = now + pipeline::backoff(options_.backoff, ev.attempts + 1);
        spdlog::warn("{}: outbox: publish {} ({}) failed, attempt {}: {} {}; next try in {} s", options_.service,
                     ev.subject, ev.msg_id, ev.attempts + 1, bus::to_string(r.status),
                     rules::Text::from_utf8(r.error).str(),
                     std::chrono::duration_cast<std::chrono::seconds>(next - now).count());
        if (metrics_)
          metrics_->counter("pacspull_outbox_publish_failures_total", "outbox publish attempts that failed",
                            {{"subject", ev.subject}})
              .Increment();
        ledger_.transact([&](pqxx::work& w) {
          ledger::mark_publish_failed(w, ev.id,
                                      rules::Text::from_utf8(std::string(bus::to_string(r.status)) + ": " + r.error),
                                      next);
        });
      }
    } catch (const std::exception& e) {
      // Published but not marked: the next pass publishes it again under the same id.
      spdlog::warn("{}: outbox: cannot record the outcome of {} ({}); it will be relayed again", options_.service,
                   ev.msg_id, rules::Text::from_utf8(e.what()).str());
      break;
    }
  }
  if (metrics_) {
    try {
      const long pending =
          ledger_.transact([&](pqxx::work& w) { return ledger::pending_events(w, options_.service); });
      metrics_->gauge("pacspull_outbox_pending", "outbox events not yet acknowledged by the bus")
          .Set(static_cast<double>(pending));
    } catch (const std::exception&) {
    }
  }
  return pass;
}

void OutboxRelay::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      relay_once(core::Clock::now());
      lock.lock();
      cv_.wait_for(lock, options_.interval, [&] { return wake_ || stopping_; });
      wake_ = false;
    }
  });
}

void OutboxRelay::notify() {
  std::lock_guard lock(mu_);
  wake_ = true;
  cv_.notify_all();
}

void OutboxRelay::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace pacspull::services
