#include "pacspull/runtime/service.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <thread>

#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::runtime {
namespace {

// Copies the bus adapter's counters into Prometheus counters every few seconds.
void pump_bus_metrics(Context& ctx) {
  struct Pair {
    const char* name;
    uint64_t bus::Counters::*field;
    uint64_t last = 0;
  };
  std::vector<Pair> pairs{{"pacspull_bus_published_total", &bus::Counters::published},
                          {"pacspull_bus_publish_failures_total", &bus::Counters::publish_failures},
                          {"pacspull_bus_acked_total", &bus::Counters::acked},
                          {"pacspull_bus_naked_total", &bus::Counters::naked},
                          {"pacspull_bus_parked_total", &bus::Counters::parked},
                          {"pacspull_bus_reconnects_total", &bus::Counters::reconnects}};
  auto& connected = ctx.metrics->gauge("pacspull_bus_connected", "1 while connected to NATS");
  while (!ctx.stop->wait_for(std::chrono::seconds(5))) {
    bus::Counters c = ctx.bus->counters();
    for (auto& p : pairs) {
      uint64_t v = c.*(p.field);
      if (v > p.last) ctx.metrics->counter(p.name, "NATS bus counter").Increment(static_cast<double>(v - p.last));
      p.last = v;
    }
    connected.Set(ctx.bus->connected() ? 1 : 0);
  }
}

}  // namespace

std::unique_ptr<ledger::Ledger> Context::open_ledger() const {
  return std::make_unique<ledger::Ledger>(config.ledger_url);
}

config::SiteConfig Context::reload_config() const { return config::load_site_config(config.source); }

int run(int argc, char** argv, const std::string& service, const PortsOf& ports, const Body& body) {
  CLI::App app{"pacspull " + service};
  std::string config_path = "/etc/pacspull/site.yaml";
  app.add_option("-c,--config", config_path, "site configuration file")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + service + "] %v");
  // DCMTK leaves Nagle's algorithm on unless this is set: every C-STORE would wait.
  setenv("TCP_NODELAY", "1", 0);
  StopSignal& stop = StopSignal::install();

  Context ctx;
  ctx.service = service;
  ctx.stop = &stop;
  std::optional<std::string> fake_clock;
  try {
    ctx.config = config::load_site_config(config_path);
    ClockChoice clock = clock_from_environment();
    ctx.clock = clock.clock;
    fake_clock = clock.fake_note;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitBadConfig;
  }
  if (fake_clock) spdlog::warn("clock: {}", *fake_clock);
  ctx.ports = ports(ctx.config);
  try {
    ctx.ledger = std::make_unique<ledger::Ledger>(ctx.config.ledger_url);
    int version = ctx.ledger->migrate();
    spdlog::info("ledger ready (schema version {})", version);
  } catch (const std::exception& e) {
    spdlog::critical("ledger: {}", e.what());
    return kExitLedgerUnreachable;
  }
  try {
    bus::Options bo;
    bo.url = ctx.config.bus_url;
    bo.name = "pacspull-" + service;
    ctx.bus = bus::Bus::connect(bo);
    declare_pipeline(*ctx.bus);
  } catch (const std::exception& e) {
    spdlog::critical("bus: {}", e.what());
    return kExitBusUnreachable;
  }
  try {
    ctx.metrics = std::make_unique<metrics::Metrics>(ctx.ports.metrics_port, service);
  } catch (const std::exception& e) {
    spdlog::critical("metrics: cannot listen on {}: {}", ctx.ports.metrics_port, e.what());
    return kExitInternal;
  }
  std::thread pump([&] { pump_bus_metrics(ctx); });
  int code = kExitOk;
  try {
    ctx.metrics->gauge("pacspull_clock_fake", "1 while the PACSPULL_FAKE_NOW test hook drives the clock")
        .Set(fake_clock ? 1 : 0);
    spdlog::info("started (site {}, time zone {}, local time {}, metrics :{})", ctx.config.site,
                 ctx.config.zone.name(), core::format_civil(ctx.config.zone.to_local(ctx.clock->now())),
                 ctx.metrics->port());
    body(ctx);
  } catch (const StartupError& e) {
    spdlog::critical("{}", e.what());
    code = e.code();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    code = kExitInternal;
  }
  stop.request_stop();
  pump.join();
  spdlog::info("stopped");
  return code;
}

}  // namespace pacspull::runtime
