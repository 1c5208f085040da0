#include "pacspull/rpc/server.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <stdexcept>

namespace pacspull::rpc {

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
  set_serving(true);
}

Server::~Server() { shutdown(); }

void Server::set_serving(bool serving) {
  if (server_ && server_->GetHealthCheckService()) server_->GetHealthCheckService()->SetServingStatus(serving);
}

void Server::shutdown() {
  if (server_) {
    set_serving(false);
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
  }
}

grpc::Status unavailable(const std::string& msg) { return {grpc::StatusCode::UNAVAILABLE, msg}; }
grpc::Status invalid(const std::string& msg) { return {grpc::StatusCode::INVALID_ARGUMENT, msg}; }
grpc::Status not_found(const std::string& msg) { return {grpc::StatusCode::NOT_FOUND, msg}; }

}  // namespace pacspull::rpc
