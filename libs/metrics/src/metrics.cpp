#include "pacspull/metrics/metrics.hpp"

#include <prometheus/exposer.h>

namespace pacspull::metrics {

Metrics::Metrics(uint16_t port, const std::string& service)
    : registry_(std::make_shared<prometheus::Registry>()), service_(service) {
  if (port != 0) {
    exposer_ = std::make_unique<prometheus::Exposer>("0.0.0.0:" + std::to_string(port));
    exposer_->RegisterCollectable(registry_);
    auto ports = exposer_->GetListeningPorts();
    port_ = ports.empty() ? port : static_cast<uint16_t>(ports.front());
  }
}

Metrics::~Metrics() = default;

prometheus::Counter& Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& fam = counters_[name];
  if (!fam) fam = &prometheus::BuildCounter().Name(name).Help(help).Labels({{"service", service_}}).Register(*registry_);
  return fam->Add(labels);
}

prometheus::Gauge& Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& fam = gauges_[name];
  if (!fam) fam = &prometheus::BuildGauge().Name(name).Help(help).Labels({{"service", service_}}).Register(*registry_);
  return fam->Add(labels);
}

prometheus::Histogram& Metrics::histogram(const std::string& name, const std::string& help,
                                          const prometheus::Histogram::BucketBoundaries& buckets,
                                          const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& fam = histograms_[name];
  if (!fam)
    fam = &prometheus::BuildHistogram().Name(name).Help(help).Labels({{"service", service_}}).Register(*registry_);
  return fam->Add(labels, buckets);
}

}  // namespace pacspull::metrics
