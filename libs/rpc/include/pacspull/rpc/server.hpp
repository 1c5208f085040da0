#pragma once
// A gRPC server with grpc.health.v1 and server reflection, so grpcurl and Kubernetes
// gRPC probes work against every service. Its health status is SERVING only while the
// server runs, the service itself says so (set_serving, e.g. the receiver under its
// storage cap or draining says no) and the process is ready (set_ready, driven by
// runtime's periodic checks of the ledger, the bus and the store).
//
// Where it listens and who may call it (issue 11 part 3) is process-wide, set once by
// runtime::run from the site's `grpc:` section (configure()) before the service starts
// its Server: the bind address, TLS (server certificate) and mTLS (client CA), and the
// access policy that handlers ask with authorize() (access.hpp).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

namespace pacspull::rpc {

// What a client must present at the TLS handshake (with a client CA).
enum class ClientCert {
  None,      // not asked for
  Optional,  // asked for and verified against the CA when given (then it authenticates)
  Require,   // no connection without a certificate the CA signed
};

struct Listen {
  std::string bind = "127.0.0.1";  // an IPv4/IPv6 address or host name; "0.0.0.0" for every interface
  // TLS when both are set (PEM files); plaintext otherwise.
  std::string cert_file, key_file;
  std::string client_ca_file;  // PEM: the CA whose client certificates authenticate (mTLS)
  ClientCert client_cert = ClientCert::None;
  bool tls() const { return !cert_file.empty(); }
};

// The process's listening options (default: plaintext on 127.0.0.1). Throws
// std::runtime_error when a PEM file cannot be read or the combination is inconsistent.
void configure_listen(const Listen& listen);
Listen listen_options();

class Server {
 public:
  // Binds <listen_options().bind>:port (0: an ephemeral port, read back with port()),
  // with TLS/mTLS as configured. Throws on failure.
  Server(uint16_t port, const std::vector<grpc::Service*>& services);
  ~Server();
  uint16_t port() const { return port_; }
  // The service's own verdict (default true); combined with the process readiness.
  void set_serving(bool serving);
  void shutdown();

 private:
  friend void set_ready(bool ready);
  void apply();  // with the registry's lock held
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
  bool own_serving_ = true;
};

// Process-wide readiness (default true): every live Server reports NOT_SERVING while it
// is false; a Server started later starts in the current state. Thread-safe.
void set_ready(bool ready);
bool ready();

// Maps a classified failure to a gRPC status.
grpc::Status unavailable(const std::string& msg);
grpc::Status invalid(const std::string& msg);
grpc::Status not_found(const std::string& msg);

}  // namespace pacspull::rpc
