#pragma once
// A gRPC server with grpc.health.v1 and server reflection, so grpcurl and Kubernetes
// gRPC probes work against every service. Its health status is SERVING only while the
// server runs, the service itself says so (set_serving, e.g. the receiver under its
// storage cap or draining says no) and the process is ready (set_ready, driven by
// runtime's periodic checks of the ledger, the bus and the store).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

namespace pacspull::rpc {

class Server {
 public:
  // Binds 0.0.0.0:port (0: an ephemeral port, read back with port()). Throws on failure.
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
