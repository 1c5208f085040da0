#pragma once
// A gRPC server with grpc.health.v1 and server reflection, so grpcurl and Kubernetes
// gRPC probes work against every service.
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
  void set_serving(bool serving);
  void shutdown();

 private:
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
};

// Maps a classified failure to a gRPC status.
grpc::Status unavailable(const std::string& msg);
grpc::Status invalid(const std::string& msg);
grpc::Status not_found(const std::string& msg);

}  // namespace pacspull::rpc
