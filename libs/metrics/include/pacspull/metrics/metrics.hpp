#pragma once
// Prometheus metrics of one service: a registry exposed at http://<bind>:<port>/metrics.
// Families are created on first use and cached; all methods are thread-safe. No label
// names the service: the scrape config's `job` (pacspull-<service>) does, and a `service`
// label set here would clash with the one the scrape configs add. Every service exports
// pacspull_build_info{version, revision} = 1 (deploy/grafana/README.md).
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace prometheus {
class Exposer;
}

namespace pacspull::metrics {

using Labels = std::map<std::string, std::string>;

class Metrics {
 public:
  // port 0: no HTTP endpoint (tests); otherwise binds 0.0.0.0:port. Throws on bind failure.
  explicit Metrics(uint16_t port, const std::string& service);
  ~Metrics();

  prometheus::Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  prometheus::Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  prometheus::Histogram& histogram(const std::string& name, const std::string& help,
                                   const prometheus::Histogram::BucketBoundaries& buckets, const Labels& labels = {});
  uint16_t port() const { return port_; }
  // The version compiled in: the project's version and `git describe` at configure time.
  static const char* version();
  static const char* revision();
  std::shared_ptr<prometheus::Registry> registry() { return registry_; }

 private:
  std::mutex mu_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> counters_;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> gauges_;
  std::map<std::string, prometheus::Family<prometheus::Histogram>*> histograms_;
  uint16_t port_ = 0;
  std::string service_;
};

}  // namespace pacspull::metrics
