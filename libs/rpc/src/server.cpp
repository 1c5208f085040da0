#include "pacspull/rpc/server.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>

namespace pacspull::rpc {
namespace {

struct Registry {
  std::mutex mu;
  bool ready = true;
  std::set<Server*> servers;
};
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void set_ready(bool ready) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.ready = ready;
  for (auto* s : r.servers) s->apply();
}

bool ready() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  return r.ready;
}

Server::Server(uint16_t port, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder b;
  int selected = 0;
  b.AddListeningPort("0.0.0.0:" + std::to_string(port), grpc::InsecureServerCredentials(), &selected);
  for (auto* s : services) b.RegisterService(s);
  server_ = b.BuildAndStart();
  if (!server_ || selected == 0) throw std::runtime_error("gRPC: cannot listen on port " + std::to_string(port));
  port_ = static_cast<uint16_t>(selected);
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.servers.insert(this);
  apply();
}

Server::~Server() { shutdown(); }

void Server::apply() {
  if (server_ && server_->GetHealthCheckService())
    server_->GetHealthCheckService()->SetServingStatus(own_serving_ && registry().ready);
}

void Server::set_serving(bool serving) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  own_serving_ = serving;
  apply();
}

void Server::shutdown() {
  {
    auto& r = registry();
    std::lock_guard lock(r.mu);
    r.servers.erase(this);
    own_serving_ = false;
    apply();
  }
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
  }
}

grpc::Status unavailable(const std::string& msg) { return {grpc::StatusCode::UNAVAILABLE, msg}; }
grpc::Status invalid(const std::string& msg) { return {grpc::StatusCode::INVALID_ARGUMENT, msg}; }
grpc::Status not_found(const std::string& msg) { return {grpc::StatusCode::NOT_FOUND, msg}; }

}  // namespace pacspull::rpc
