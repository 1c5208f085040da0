#pragma once
// pullctl's shared state and output layer. Every command fills one JSON document and
// prints either that document (--output json: one document on stdout, for scripts) or
// the text form for people, built from the same values.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "pacspull/config/site_config.hpp"

namespace pacspull::pullctl {

using json = nlohmann::ordered_json;

// Exit codes of pullctl itself (`pacs test` adds its verdict codes, see pacs.cpp).
inline constexpr int kOk = 0;
inline constexpr int kFailed = 1;     // a service or peer answered "no", or is unreachable
inline constexpr int kNotFound = 2;   // bad argument, nothing matched

struct Cli {
  std::string config_path;
  std::string host = "127.0.0.1";
  // gRPC credentials (issue 11 part 3). Empty: the site file's `grpc:` section (ca_file,
  // token_file; TLS when the services have tls_cert_file), as the services use it.
  std::string tls_ca, tls_cert, tls_key, tls_server_name, token_file;
  std::string output = "text";
  std::optional<config::SiteConfig> cfg;
  int rc = kOk;

  const config::SiteConfig& site();
  std::shared_ptr<grpc::Channel> channel(uint16_t port) const;
  bool json_output() const { return output == "json"; }

  // JSON mode: prints `doc`. Text mode: calls `text`.
  void emit(const json& doc, const std::function<void()>& text) const;
  // A failure: the message on stderr; in JSON mode also {"error": message} on stdout, so
  // a script always reads one document. Returns `code`.
  int fail(int code, const std::string& message) const;
  // A gRPC status: kOk, or fail(kFailed, "<what>: <message> (gRPC code N)").
  int check(const grpc::Status& s, const char* what) const;
};

// A call's context: its deadline and, when a token is configured, `authorization: Bearer`.
std::unique_ptr<grpc::ClientContext> rpc_context(int seconds = 30);
// "YYYY-MM-DD HH:MM" (UTC) of epoch seconds; "-" for 0.
std::string when(int64_t secs);

void add_ledger_commands(CLI::App& app, Cli& cli);   // why, status [--watch], parked
void add_service_commands(CLI::App& app, Cli& cli);  // health and one group per service
void add_pacs_commands(CLI::App& app, Cli& cli);     // pacs echo|test, audit
void add_audit_commands(CLI::App& app, Cli& cli);    // audit-log (the ledger's audit trail)
// The gRPC credential options (--tls-ca, --tls-cert, --tls-key, --tls-server-name, --token-file).
void add_grpc_options(CLI::App& app, Cli& cli);

}  // namespace pacspull::pullctl
