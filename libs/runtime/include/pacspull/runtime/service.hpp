#pragma once
// The common life of a pacspull service: parse --config, load and validate the site
// configuration, connect the ledger (and migrate), the bus (and declare the pipeline),
// start /metrics, then run the service's body until SIGTERM. Start-up failures map to
// distinct exit codes so an orchestrator (and an operator) can tell them apart.
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "pacspull/bus/bus.hpp"
#include "pacspull/config/site_config.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/metrics/metrics.hpp"
#include "pacspull/runtime/clock.hpp"
#include "pacspull/runtime/stop_signal.hpp"

namespace pacspull::runtime {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,
  kExitBadConfig = 2,
  kExitLedgerUnreachable = 3,
  kExitBusUnreachable = 4,
  kExitDicomBind = 5,
};

// Thrown by a service body for a start-up failure with its exit code.
class StartupError : public std::runtime_error {
 public:
  StartupError(const std::string& what, ExitCode code) : std::runtime_error(what), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

struct Context {
  std::string service;
  config::SiteConfig config;
  config::ServicePorts ports;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<bus::Bus> bus;
  std::unique_ptr<metrics::Metrics> metrics;
  StopSignal* stop = nullptr;
  // The wall clock every `now` of the service comes from (see clock.hpp).
  std::shared_ptr<const Clock> clock = std::make_shared<SystemClock>();
  // A fresh ledger connection for a second thread of the same service.
  std::unique_ptr<ledger::Ledger> open_ledger() const;
  // Reloads the configuration file (for rule reloads); throws ConfigError.
  config::SiteConfig reload_config() const;
};

using PortsOf = std::function<config::ServicePorts(const config::SiteConfig&)>;
using Body = std::function<void(Context&)>;

// The bus connection options of the site file (url, replicas, credentials, TLS).
bus::Options bus_options(const config::SiteConfig& c, const std::string& name);

// `--migrate`: applies the ledger migrations, gives the service roles named by
// PACSPULL_ROLE_PASSWORD_<SERVICE>[_FILE] (FINDER ... DISPATCHER, OPERATOR) their login and
// password, and returns the exit code (0, or 3 when it failed).
int migrate_once(ledger::Ledger& ledger);

// main() of every service: `return pacspull::runtime::run(argc, argv, "finder", ports, body);`
int run(int argc, char** argv, const std::string& service, const PortsOf& ports, const Body& body);

}  // namespace pacspull::runtime
