#include "pacspull/metrics/metrics.hpp"

#include <prometheus/exposer.h>

#include <chrono>
#include <thread>

#ifndef PACSPULL_VERSION
#define PACSPULL_VERSION "unknown"
#endif
#ifndef PACSPULL_GIT_DESCRIBE
#define PACSPULL_GIT_DESCRIBE ""
#endif

namespace pacspull::metrics {

const char* Metrics::version() { return PACSPULL_VERSION; }
const char* Metrics::revision() { return PACSPULL_GIT_DESCRIBE; }

Metrics::Metrics(uint16_t port, const std::string& service)
    : registry_(std::make_shared<prometheus::Registry>()), service_(service) {
  if (port != 0) {
    // A service restarted right after a crash can find its port still held for a moment
    // (connections of the dead process closing): retry for a bounded time before giving up.
    for (int attempt = 1;; ++attempt) {
      try {
        exposer_ = std::make_unique<prometheus::Exposer>("0.0.0.0:" + std::to_string(port));
        break;
      } catch (const std::exception&) {
        if (attempt >= 40) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
    exposer_->RegisterCollectable(registry_);
    auto ports = exposer_->GetListeningPorts();
    port_ = ports.empty() ? port : static_cast<uint16_t>(ports.front());
  }
  gauge("pacspull_build_info", "1; the labels say which build runs",
        {{"version", version()}, {"revision", revision()}})
      .Set(1);
}

Metrics::~Metrics() = default;

prometheus::Counter& Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& fam = counters_[name];
  if (!fam) fam = &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  return fam->Add(labels);
}

prometheus::Gauge& Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& fam = gauges_[name];
  if (!fam) fam = &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  return fam->Add(labels);
}

prometheus::Histogram& Metrics::histogram(const std::string& name, const std::string& help,
                                          const prometheus::Histogram::BucketBoundaries& buckets,
                                          const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& fam = histograms_[name];
  if (!fam)
    fam = &prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  return fam->Add(labels, buckets);
}

}  // namespace pacspull::metrics
