#include "pacspull/runtime/service.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <thread>
#include <tuple>
#include <unistd.h>

#include "pacspull/rpc/server.hpp"
#include "pacspull/runtime/grpc_security.hpp"
#include "pacspull/rules/text.hpp"
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
  for (auto& p : pairs) ctx.metrics->counter(p.name, "NATS bus counter");  // at 0 from the start
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

// %* in the JSON log pattern: the message as a JSON string body (UTF-8 repaired, quotes,
// backslashes and control characters escaped), so every line parses.
class JsonMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string text = rules::Text::from_utf8(std::string_view(msg.payload.data(), msg.payload.size())).str();
    for (char ch : text) {
      switch (ch) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(ch) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(ch));
            dest.append(std::string_view(buf));
          } else {
            dest.push_back(ch);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

// log.format and log.level of the site file.
void configure_logging(const config::SiteConfig::Log& log, const std::string& service) {
  spdlog::set_level(spdlog::level::from_str(log.level));
  if (log.format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<JsonMessage>('*').set_pattern("{\"time\":\"%Y-%m-%dT%H:%M:%S.%e%z\",\"level\":\"%l\",\"service\":\"" +
                                              service + "\",\"message\":\"%*\"}");
    spdlog::set_formatter(std::move(f));
  }
}

// The ledger URL with a bounded connect, so a ledger that hangs cannot stall the check.
std::string with_connect_timeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  if (url.rfind("postgres", 0) == 0) return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=3";
  return url + " connect_timeout=3";  // key=value form
}

// The store is usable when a file can be created, written, synced and removed in it.
std::optional<std::string> probe_store(const std::filesystem::path& root) {
  std::error_code mk;
  std::filesystem::create_directories(root, mk);  // the receiver re-creates it on arrival too
  if (mk) return "cannot create " + root.string() + ": " + mk.message();
  const auto probe = root / (".pacspull-ready-" + std::to_string(getpid()));
  {
    std::ofstream f(probe, std::ios::binary | std::ios::trunc);
    if (!f) return "cannot create a file in " + root.string();
    f << "ok";
    f.flush();
    if (!f) return "cannot write in " + root.string();
  }
  std::error_code ec;
  std::filesystem::remove(probe, ec);
  if (ec) return "cannot remove a file in " + root.string() + ": " + ec.message();
  return std::nullopt;
}

// Readiness: every kReadinessEvery, the ledger (SELECT 1 on the checker's own
// connection), the bus (connected to NATS) and, for the receiver, the store (a probe
// file). grpc.health.v1 turns NOT_SERVING while any is unusable and SERVING once all
// recover; each change is logged (warn going down, info coming back) and exported as
// pacspull_ready and pacspull_dependency_up{dependency}.
constexpr std::chrono::seconds kReadinessEvery{2};

void watch_readiness(Context& ctx) {
  std::unique_ptr<pqxx::connection> conn;
  const std::string url = with_connect_timeout(ctx.config.ledger_url);
  const bool has_store = ctx.service == "receiver";
  auto& ready_gauge = ctx.metrics->gauge("pacspull_ready", "1 while grpc.health.v1 says SERVING (dependencies usable)");
  auto& ledger_up = ctx.metrics->gauge("pacspull_dependency_up", "1 while the dependency is usable", {{"dependency", "ledger"}});
  auto& bus_up = ctx.metrics->gauge("pacspull_dependency_up", "1 while the dependency is usable", {{"dependency", "bus"}});
  prometheus::Gauge* store_up = has_store ? &ctx.metrics->gauge("pacspull_dependency_up", "1 while the dependency is usable",
                                                                {{"dependency", "store"}})
                                          : nullptr;
  std::map<std::string, std::string> down;  // dependency -> why, as last logged
  do {
    std::map<std::string, std::string> now;
    try {
      if (!conn) conn = std::make_unique<pqxx::connection>(url);
      pqxx::nontransaction n(*conn);
      n.exec("SELECT 1");
    } catch (const std::exception& e) {
      conn.reset();
      now["ledger"] = rules::Text::from_utf8(e.what()).str();
    }
    if (!ctx.bus->connected()) now["bus"] = "not connected to NATS at " + ctx.config.bus_url;
    if (has_store)
      if (auto why = probe_store(ctx.config.local.storage_root)) now["store"] = *why;
    for (const auto& [dep, why] : now)
      if (!down.count(dep)) spdlog::warn("readiness: {} unusable: {}; grpc health NOT_SERVING", dep, why);
    for (const auto& [dep, why] : down)
      if (!now.count(dep)) spdlog::info("readiness: {} usable again", dep);
    if (now.empty() != down.empty() && now.empty()) spdlog::info("readiness: all dependencies usable; grpc health SERVING");
    down = std::move(now);
    ledger_up.Set(down.count("ledger") ? 0 : 1);
    bus_up.Set(down.count("bus") ? 0 : 1);
    if (store_up) store_up->Set(down.count("store") ? 0 : 1);
    ready_gauge.Set(down.empty() ? 1 : 0);
    rpc::set_ready(down.empty());
  } while (!ctx.stop->wait_for(kReadinessEvery));
}

}  // namespace

bus::Options bus_options(const config::SiteConfig& c, const std::string& name) {
  bus::Options bo;
  bo.url = c.bus_url;
  bo.stream_replicas = c.bus_stream_replicas;
  bo.name = name;
  bo.user = c.bus_auth.user;
  bo.password = c.bus_auth.password;
  bo.token = c.bus_auth.token;
  bo.credentials_file = c.bus_auth.credentials_file;
  bo.tls = c.bus_auth.tls;
  bo.tls_ca_file = c.bus_auth.tls_ca_file;
  bo.tls_cert_file = c.bus_auth.tls_cert_file;
  bo.tls_key_file = c.bus_auth.tls_key_file;
  // Each user's replies under its own prefix (deploy/nats/nats-server.conf lets it read only those).
  if (!bo.user.empty()) bo.inbox_prefix = "_INBOX_" + bo.user;
  return bo;
}

int migrate_once(ledger::Ledger& ledger) {
  try {
    int version = ledger.migrate();
    spdlog::info("ledger: migrated (schema version {})", version);
    // Every password is read and checked before any role changes: all or nothing.
    const auto env = config::process_environment();
    std::vector<std::tuple<std::string, std::string, std::string>> logins;  // role, password, from
    for (const char* svc : {"FINDER", "MOVER", "RECEIVER", "FILTER", "CHECKER", "DISPATCHER", "OPERATOR"}) {
      const std::string name = std::string("PACSPULL_ROLE_PASSWORD_") + svc;
      std::string password;
      if (auto it = env.find(name); it != env.end()) password = it->second;
      if (auto it = env.find(name + "_FILE"); password.empty() && it != env.end()) {
        std::ifstream in(it->second, std::ios::binary);
        if (!in) throw std::runtime_error("cannot read " + name + "_FILE " + it->second);
        std::getline(in, password);
        if (!password.empty() && password.back() == '\r') password.pop_back();
      }
      if (password.empty()) continue;
      if (config::is_placeholder_secret(password)) throw std::runtime_error(name + " is a placeholder: set a real secret");
      std::string role = "pacspull_" + std::string(svc);
      for (auto& ch : role) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      logins.emplace_back(role, password, name);
    }
    ledger.transact([&](pqxx::work& w) {
      for (const auto& [role, password, from] : logins)
        w.exec("ALTER ROLE " + w.quote_name(role) + " LOGIN PASSWORD " + w.quote(password));
    });
    for (const auto& [role, password, from] : logins)
      spdlog::info("ledger: role {} may log in (password from {})", role, from);
    return kExitOk;
  } catch (const std::exception& e) {
    spdlog::critical("ledger: migration failed: {}", e.what());
    return kExitLedgerUnreachable;
  }
}

std::unique_ptr<ledger::Ledger> Context::open_ledger() const {
  return std::make_unique<ledger::Ledger>(config.ledger_url);
}

config::SiteConfig Context::reload_config() const { return config::load_site_config(config.source); }

int run(int argc, char** argv, const std::string& service, const PortsOf& ports, const Body& body) {
  CLI::App app{"pacspull " + service};
  std::string config_path = "/etc/pacspull/site.yaml";
  app.add_option("-c,--config", config_path, "site configuration file")->capture_default_str();
  bool migrate_only = false;
  app.add_flag("--migrate", migrate_only,
               "apply the ledger migrations (connected as the schema's owner), give the service roles named in "
               "PACSPULL_ROLE_PASSWORD_<SERVICE>[_FILE] their login, and exit");
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
  configure_logging(ctx.config.log, service);
  if (fake_clock) spdlog::warn("clock: {}", *fake_clock);
  ctx.ports = ports(ctx.config);
  try {
    ctx.ledger = std::make_unique<ledger::Ledger>(ctx.config.ledger_url);
    if (migrate_only) return migrate_once(*ctx.ledger);
    int version = ctx.ledger->prepare_schema(ctx.config.ledger_migrate == "off" ? ledger::Ledger::SchemaMode::Check
                                                                                : ledger::Ledger::SchemaMode::Auto);
    spdlog::info("ledger ready (schema version {})", version);
  } catch (const std::exception& e) {
    spdlog::critical("ledger: {}", e.what());
    return kExitLedgerUnreachable;
  }
  try {
    ctx.bus = bus::Bus::connect(bus_options(ctx.config, "pacspull-" + service));
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
  try {
    install_grpc_security(ctx);  // bind, TLS, who may call, the audit trail (issue 11 parts 3, 6)
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitBadConfig;
  }
  std::thread pump([&] { pump_bus_metrics(ctx); });
  std::thread readiness([&] { watch_readiness(ctx); });
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
  readiness.join();
  spdlog::info("stopped");
  return code;
}

}  // namespace pacspull::runtime
