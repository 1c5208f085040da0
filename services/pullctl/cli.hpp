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

std::unique_ptr<grpc::ClientContext> rpc_context(int seconds = 30);
// "YYYY-MM-DD HH:MM" (UTC) of epoch seconds; "-" for 0.
std::string when(int64_t secs);

void add_ledger_commands(CLI::App& app, Cli& cli);   // why, status [--watch], parked
void add_service_commands(CLI::App& app, Cli& cli);  // health and one group per service
void add_pacs_commands(CLI::App& app, Cli& cli);     // pacs echo|test, audit

}  // namespace pacspull::pullctl
