#include "pacspull/runtime/grpc_security.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pacspull/runtime/service.hpp"

namespace pacspull::runtime {
namespace {

bool loopback(const std::string& bind) {
  return bind == "127.0.0.1" || bind == "::1" || bind == "[::1]" || bind == "localhost" || bind.rfind("127.", 0) == 0;
}

// FNV-1a 64 of the site file: a configuration change between two starts shows as a new value.
std::string fingerprint(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "";
  uint64_t h = 1469598103934665603ULL;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ULL;
    }
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace

rpc::Listen listen_of(const config::SiteConfig& site, const config::ServicePorts& ports) {
  rpc::Listen l;
  l.bind = ports.grpc_bind.empty() ? site.grpc.bind : ports.grpc_bind;
  l.cert_file = site.grpc.tls_cert_file;
  l.key_file = site.grpc.tls_key_file;
  l.client_ca_file = site.grpc.ca_file;
  l.client_cert = site.grpc.client_cert == "require"    ? rpc::ClientCert::Require
                  : site.grpc.client_cert == "optional" ? rpc::ClientCert::Optional
                                                        : rpc::ClientCert::None;
  return l;
}

rpc::Policy policy_of(const config::SiteConfig& site) {
  rpc::Policy p;
  if (!site.grpc.token_file.empty()) {
    try {
      p.tokens = rpc::read_token_file(site.grpc.token_file);
    } catch (const std::exception& e) {
      throw config::ConfigError(std::string("grpc.token_file: ") + e.what());
    }
  }
  p.mtls = site.grpc.client_cert != "none" && !site.grpc.ca_file.empty();
  p.read_requires_auth = site.grpc.read_requires_auth();
  p.store_root = site.local.storage_root;
  return p;
}

std::string audit_detail(std::initializer_list<std::pair<const char*, std::string>> fields) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : fields) j[k] = v;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool record_audit(Context& ctx, const ledger::AuditEntry& entry) {
  // Its own connection: gRPC threads record requests while the service's loop holds ctx.ledger.
  static std::mutex mu;
  static std::unique_ptr<ledger::Ledger> own;
  try {
    std::lock_guard lock(mu);
    if (!own) own = ctx.open_ledger();
    own->transact([&](pqxx::work& w) { ledger::record_audit(w, entry); });
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("audit: cannot record {} {} by {}: {}", entry.action, entry.object, entry.actor, e.what());
    if (ctx.metrics)
      ctx.metrics->counter("pacspull_audit_write_failures_total", "audit rows that could not be written").Increment();
    return false;
  }
}

void install_grpc_security(Context& ctx) {
  const auto& site = ctx.config;
  rpc::Listen listen = listen_of(site, ctx.ports);
  rpc::Policy policy = policy_of(site);
  try {
    rpc::configure_listen(listen);
  } catch (const std::exception& e) {
    throw config::ConfigError(e.what());
  }
  if (!loopback(listen.bind) && !listen.tls())
    spdlog::warn("grpc: listening on {} without TLS: tokens and answers cross the network in clear text "
                 "(set grpc.tls_cert_file and grpc.tls_key_file)", listen.bind);
  if (policy.tokens.empty() && !policy.mtls)
    spdlog::warn("grpc: no grpc.token_file and no mTLS: state-changing calls (pull, retry, poll, reload, replay, "
                 "check) are refused");
  spdlog::info("grpc: {} on {}, {} token(s), mTLS {}, reads {}", listen.tls() ? "TLS" : "plaintext", listen.bind,
               policy.tokens.size(), policy.mtls ? site.grpc.client_cert : "off",
               policy.read_requires_auth ? "authenticated" : "open");
  rpc::configure_access(std::move(policy));
  for (const char* code : {"unauthenticated", "permission_denied"})
    ctx.metrics->counter("pacspull_grpc_refused_total", "gRPC calls refused by the access policy", {{"code", code}});
  rpc::set_access_observer([&ctx](const rpc::AccessEvent& ev) {
    const bool mutate = ev.access == rpc::Access::Mutate;
    ledger::AuditEntry e;
    e.actor = ev.caller.actor;
    e.action = ev.allowed ? ledger::audit::kRequest : ledger::audit::kRequestDenied;
    e.object = ev.method;
    e.detail_json = audit_detail({{"peer", ev.caller.peer}, {"auth", ev.caller.auth},
                                  {"access", mutate ? "mutate" : "read"}, {"reason", ev.reason}});
    if (!ev.allowed) {
      ctx.metrics->counter("pacspull_grpc_refused_total", "gRPC calls refused by the access policy",
                           {{"code", ev.code}})
          .Increment();
    }
    return record_audit(ctx, e);
  });
  record_audit(ctx, {ctx.service, ledger::audit::kConfigLoaded, site.source.string(),
                     audit_detail({{"fingerprint", fingerprint(site.source)}, {"grpc_bind", listen.bind},
                                   {"grpc_tls", listen.tls() ? "on" : "off"}})});
}

}  // namespace pacspull::runtime
