#pragma once
// gRPC security and the audit trail at a service's start-up (issue 11 parts 3 and 6):
// the site's `grpc:` section becomes the process's listening options (bind address,
// TLS, mTLS) and access policy (tokens, read access, the store Explain may read), and
// every refused call and every allowed state-changing call goes to a metric and the
// ledger's audit_log. runtime::run calls install_grpc_security before the service body.
#include <string>

#include "pacspull/config/site_config.hpp"
#include "pacspull/ledger/audit_store.hpp"
#include "pacspull/rpc/access.hpp"
#include "pacspull/rpc/server.hpp"

namespace pacspull::runtime {

struct Context;

// Pure translations of the site file (throws config::ConfigError when a token file is unreadable).
rpc::Listen listen_of(const config::SiteConfig& site, const config::ServicePorts& ports);
rpc::Policy policy_of(const config::SiteConfig& site);

// Configures rpc (listen + policy + observer) and records `config.loaded`. Throws
// config::ConfigError for a bad `grpc:` section (unreadable PEM or token file).
void install_grpc_security(Context& ctx);

// Appends one audit row in its own transaction, after the change it records committed.
// A failure is logged at warn and counted (pacspull_audit_write_failures_total), never thrown.
bool record_audit(Context& ctx, const ledger::AuditEntry& entry);

// A JSON object string from key/value pairs (values as JSON strings), for AuditEntry::detail_json.
std::string audit_detail(std::initializer_list<std::pair<const char*, std::string>> fields);

}  // namespace pacspull::runtime
