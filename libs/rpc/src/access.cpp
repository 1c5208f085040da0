#include "pacspull/rpc/access.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace pacspull::rpc {
namespace {

struct State {
  std::mutex mu;
  Policy policy;
  AccessObserver observer;
};
State& state() {
  static State s;
  return s;
}

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  auto end = s.find_last_not_of(ws);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

// The bearer token of the call, if any ("authorization: Bearer <token>").
std::optional<std::string> bearer(const grpc::ServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return std::nullopt;
  std::string v(it->second.data(), it->second.size());
  const std::string prefix = "Bearer ";
  if (v.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), v.begin(),
                                               [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
    return std::string{};  // present but not a bearer token: a wrong credential
  return trim(v.substr(prefix.size()));
}

std::string common_name(const grpc::ServerContext& ctx) {
  auto auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {};
  auto cn = auth->FindPropertyValues("x509_common_name");
  if (cn.empty()) return {};
  return std::string(cn.front().data(), cn.front().size());
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the longer one is visited; a length mismatch only sets a bit.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::vector<Token> read_token_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read the gRPC token file " + file.string());
  std::vector<Token> tokens;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    Token t;
    t.secret = line;  // the whole line is the credential; its id is what precedes ':'
    auto colon = line.find(':');
    t.id = colon == std::string::npos || colon == 0 ? "token-" + std::to_string(line_no) : line.substr(0, colon);
    if (line.size() - (colon == std::string::npos ? 0 : colon + 1) < 16)
      throw std::runtime_error(file.string() + ":" + std::to_string(line_no) +
                               ": a gRPC token must have at least 16 characters after its id");
    tokens.push_back(std::move(t));
  }
  if (tokens.empty()) throw std::runtime_error("the gRPC token file " + file.string() + " holds no token");
  return tokens;
}

std::string first_token_line(const std::filesystem::path& file) { return read_token_file(file).front().secret; }

void configure_access(Policy policy) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.policy = std::move(policy);
}

void set_access_observer(AccessObserver observer) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.observer = std::move(observer);
}

Caller identify(const grpc::ServerContext& ctx) {
  Caller c;
  c.peer = ctx.peer();
  c.actor = "anonymous";
  c.auth = "none";
  return c;
}

grpc::Status authorize(grpc::ServerContext* ctx, Access access, const char* method, Caller* out) {
  auto& s = state();
  Policy policy;
  AccessObserver observer;
  {
    std::lock_guard lock(s.mu);
    policy = s.policy;  // small: a few tokens
    observer = s.observer;
  }
  Caller caller = identify(*ctx);
  grpc::StatusCode refused = grpc::StatusCode::OK;
  std::string reason;
  // A client certificate counts only where the site trusts its CA for that (mTLS).
  if (std::string cn = policy.mtls ? common_name(*ctx) : std::string{}; !cn.empty()) {
    caller.actor = "cert:" + cn;
    caller.auth = "cert";
  } else if (auto token = bearer(*ctx)) {
    const Token* match = nullptr;
    for (const auto& t : policy.tokens)  // every token compared: no early exit either
      if (constant_time_equal(*token, t.secret) && !match) match = &t;
    if (match) {
      caller.actor = "token:" + match->id;
      caller.auth = "token";
    } else {
      refused = grpc::StatusCode::PERMISSION_DENIED;
      reason = policy.tokens.empty() ? "a token was sent but the service has no grpc.token_file" : "unknown token";
    }
  }
  const bool needs_auth = access == Access::Mutate || policy.read_requires_auth;
  if (refused == grpc::StatusCode::OK && needs_auth && caller.auth == "none") {
    if (policy.tokens.empty() && !policy.mtls) {
      refused = grpc::StatusCode::PERMISSION_DENIED;
      reason = "this call changes state and the service has no way to authenticate it "
               "(set grpc.token_file or a client CA for mTLS)";
    } else {
      refused = grpc::StatusCode::UNAUTHENTICATED;
      reason = std::string(access == Access::Mutate ? "this call changes state: " : "reads need authentication here: ") +
               "send a bearer token (pullctl --token-file) or a client certificate (pullctl --tls-cert/--tls-key)";
    }
  }
  if (out) *out = caller;
  AccessEvent ev{method, access, caller, refused == grpc::StatusCode::OK,
                 refused == grpc::StatusCode::UNAUTHENTICATED ? "unauthenticated"
                 : refused == grpc::StatusCode::OK           ? ""
                                                             : "permission_denied",
                 reason};
  if (refused != grpc::StatusCode::OK) {
    spdlog::warn("grpc: refused {} from {} ({}): {}", method, caller.peer, caller.actor, reason);
    if (observer) observer(ev);
    return {refused, std::string(method) + ": " + reason};
  }
  if (access == Access::Mutate) {
    spdlog::info("grpc: {} by {} from {}", method, caller.actor, caller.peer);
    if (observer && !observer(ev))
      return {grpc::StatusCode::UNAVAILABLE, std::string(method) + ": the audit entry cannot be written; not run"};
  }
  return grpc::Status::OK;
}

grpc::Status confine_to_store(const std::string& path, std::string* resolved) {
  Policy policy;
  {
    auto& s = state();
    std::lock_guard lock(s.mu);
    policy = s.policy;
  }
  auto deny = [&](const std::string& why) {
    spdlog::warn("grpc: refused to read {}: {}", path, why);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "refused to read " + path + ": " + why);
  };
  if (policy.store_root.empty()) return deny("no store directory configured");
  std::filesystem::path p(path);
  if (!p.is_absolute()) return deny("not an absolute path");
  for (const auto& part : p)
    if (part == "..") return deny("'..' in the path");
  std::error_code ec;
  auto root = std::filesystem::canonical(policy.store_root, ec);
  if (ec) return deny("the store " + policy.store_root.string() + " cannot be resolved: " + ec.message());
  auto real = std::filesystem::canonical(p, ec);
  if (ec) {
    // Not resolvable: say so only for paths that are under the store by their name.
    auto rel = p.lexically_normal().lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..") return deny("outside the store " + root.string());
    return {grpc::StatusCode::NOT_FOUND, "cannot read " + path + ": " + ec.message()};
  }
  auto rel = real.lexically_relative(root);
  if (rel.empty() || *rel.begin() == ".." || rel == ".")
    return deny("outside the store " + root.string() + (real != p ? " (resolves to " + real.string() + ")" : ""));
  *resolved = real.string();
  return grpc::Status::OK;
}

}  // namespace pacspull::rpc
