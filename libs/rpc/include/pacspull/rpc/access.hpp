#pragma once
// Who may call a service (issue 11 part 3). Every handler starts with authorize(): a
// call that changes state (Access::Mutate: a pull, a retry, a poll, a rules reload, a
// replay, a check) needs a client certificate verified by the site's CA (mTLS) or a bearer
// token from the site's token file; read-only calls (Access::Read) need the same only when
// the site says so (`grpc.read_access: authenticated`). A refused call answers
// UNAUTHENTICATED (no credential given) or PERMISSION_DENIED (a wrong one, or no way to
// authenticate configured), is logged at warn and reported to the observer (a metric and
// an audit row, installed by runtime). An allowed mutating call is reported too, before
// the handler runs: the audit trail of manual requests; when the observer cannot record
// it the call is refused (UNAVAILABLE) rather than run unrecorded.
//
// The policy is process-wide (configure_access), like the listening options; thread-safe.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pacspull::rpc {

enum class Access { Read, Mutate };

struct Token {
  std::string id;      // who, in logs and the audit trail (never the secret)
  std::string secret;  // what the client sends: `authorization: Bearer <secret>`
};

struct Policy {
  std::vector<Token> tokens;  // empty: no token authenticates
  bool mtls = false;          // a client certificate verified by the CA authenticates
  bool read_requires_auth = false;
  std::filesystem::path store_root;  // Explain reads only files under it (empty: none)
};

// Token file: one token per line, `id:secret` or a bare `secret` (its id is "token-<line>");
// blank lines and lines starting with '#' are skipped. pullctl sends the first token's whole
// line. Throws std::runtime_error when the file cannot be read or holds no token.
std::vector<Token> read_token_file(const std::filesystem::path& file);
// The first token line of a file, as a client sends it. Throws like read_token_file.
std::string first_token_line(const std::filesystem::path& file);

// Compares without an early exit on the first differing byte or on a length mismatch,
// so the time taken does not tell an attacker how much of a guess was right.
bool constant_time_equal(std::string_view a, std::string_view b);

void configure_access(Policy policy);

struct Caller {
  std::string actor;  // "token:<id>", "cert:<common name>" or "anonymous"
  std::string peer;   // "ipv4:127.0.0.1:53422"
  std::string auth;   // token | cert | none
};

struct AccessEvent {
  std::string method;  // "finder.RequestPull"
  Access access = Access::Read;
  Caller caller;
  bool allowed = false;
  std::string code;    // refused: "unauthenticated" or "permission_denied"
  std::string reason;  // why refused
};
// Called for every refused call and every allowed mutating call (from gRPC threads).
// Returns false when the event could not be recorded (an allowed call is then refused).
using AccessObserver = std::function<bool(const AccessEvent&)>;
void set_access_observer(AccessObserver observer);

// The caller of `ctx` by the credentials it presented (no policy decision).
Caller identify(const grpc::ServerContext& ctx);

// OK, or the status to return at once. `caller` (optional) receives who called.
grpc::Status authorize(grpc::ServerContext* ctx, Access access, const char* method, Caller* caller = nullptr);

// `path` (absolute) resolved with every symlink and '..' (std::filesystem::canonical);
// OK and *resolved set only when that lies inside the canonical store root. A path with a
// '..' component is refused before resolving. PERMISSION_DENIED otherwise (logged).
grpc::Status confine_to_store(const std::string& path, std::string* resolved);

}  // namespace pacspull::rpc
