#include "pacspull/rpc/server.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
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

std::mutex listen_mu;
Listen& listen_state() {
  static Listen l;
  return l;
}

std::string read_pem(const std::string& file, const char* what) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(std::string("gRPC TLS: cannot read the ") + what + " " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos)
    throw std::runtime_error(std::string("gRPC TLS: the ") + what + " " + file + " is not PEM");
  return ss.str();
}

std::shared_ptr<grpc::ServerCredentials> credentials(const Listen& l) {
  if (!l.tls()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions o;
  o.pem_key_cert_pairs.push_back({read_pem(l.key_file, "key"), read_pem(l.cert_file, "certificate")});
  if (!l.client_ca_file.empty()) o.pem_root_certs = read_pem(l.client_ca_file, "client CA");
  switch (l.client_cert) {
    case ClientCert::None: o.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE; break;
    case ClientCert::Optional:
      o.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
      break;
    case ClientCert::Require:
      o.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
      break;
  }
  return grpc::SslServerCredentials(o);
}

// "[::1]:50051" for an IPv6 literal, "host:50051" otherwise.
std::string address(const std::string& bind, uint16_t port) {
  const bool v6 = bind.find(':') != std::string::npos && bind.front() != '[';
  return (v6 ? "[" + bind + "]" : bind) + ":" + std::to_string(port);
}

}  // namespace

void configure_listen(const Listen& l) {
  if (l.bind.empty()) throw std::runtime_error("gRPC: the bind address is empty");
  if (l.cert_file.empty() != l.key_file.empty())
    throw std::runtime_error("gRPC TLS needs both a certificate and its key");
  if (l.client_cert != ClientCert::None && (!l.tls() || l.client_ca_file.empty()))
    throw std::runtime_error("gRPC: client certificates need TLS (certificate and key) and a client CA");
  if (l.tls()) credentials(l);  // every PEM file readable now, not at the first Server
  std::lock_guard lock(listen_mu);
  listen_state() = l;
}

Listen listen_options() {
  std::lock_guard lock(listen_mu);
  return listen_state();
}

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
  Listen l;
  {
    std::lock_guard lock(listen_mu);
    l = listen_state();
  }
  b.AddListeningPort(address(l.bind, port), credentials(l), &selected);
  for (auto* s : services) b.RegisterService(s);
  server_ = b.BuildAndStart();
  if (!server_ || selected == 0) throw std::runtime_error("gRPC: cannot listen on " + address(l.bind, port));
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
