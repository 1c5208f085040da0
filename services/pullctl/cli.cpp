#include "cli.hpp"

#include <spdlog/spdlog.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "pacspull/rpc/access.hpp"

namespace pacspull::pullctl {

const config::SiteConfig& Cli::site() {
  if (!cfg) cfg = config::load_site_config(config_path);
  return *cfg;
}

namespace {

std::string g_bearer;  // sent by every rpc_context() once channel() has read the token

std::string read_file(const std::string& file, const char* what) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(std::string("cannot read the ") + what + " " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::shared_ptr<grpc::Channel> Cli::channel(uint16_t port) const {
  const config::SiteConfig* s = cfg ? &*cfg : nullptr;
  // The token: --token-file (or PACSPULL_GRPC_TOKEN_FILE), else the site's grpc.token_file;
  // a site token file this user cannot read is only a warning (read-only calls may not need it).
  if (!token_file.empty()) {
    g_bearer = rpc::first_token_line(token_file);
  } else if (s && !s->grpc.token_file.empty()) {
    try {
      g_bearer = rpc::first_token_line(s->grpc.token_file);
    } catch (const std::exception& e) {
      spdlog::warn("{} (calls that change state will be refused; give --token-file)", e.what());
    }
  }
  const std::string ca = !tls_ca.empty() ? tls_ca : s ? s->grpc.ca_file : "";
  const bool tls = !tls_ca.empty() || !tls_cert.empty() || (s && !s->grpc.tls_cert_file.empty());
  const std::string target = host + ":" + std::to_string(port);
  if (!tls) return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  if (tls_cert.empty() != tls_key.empty()) throw std::runtime_error("--tls-cert and --tls-key go together");
  grpc::SslCredentialsOptions o;
  if (!ca.empty()) o.pem_root_certs = read_file(ca, "CA file");
  if (!tls_cert.empty()) {
    o.pem_cert_chain = read_file(tls_cert, "client certificate");
    o.pem_private_key = read_file(tls_key, "client key");
  }
  grpc::ChannelArguments args;
  if (!tls_server_name.empty()) args.SetSslTargetNameOverride(tls_server_name);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(o), args);
}

void add_grpc_options(CLI::App& app, Cli& cli) {
  app.add_option("--tls-ca", cli.tls_ca, "PEM CA that signed the services' certificates (default: site grpc.ca_file)")
      ->envname("PULLCTL_TLS_CA");
  app.add_option("--tls-cert", cli.tls_cert, "PEM client certificate for mTLS")->envname("PULLCTL_TLS_CERT");
  app.add_option("--tls-key", cli.tls_key, "PEM key of --tls-cert")->envname("PULLCTL_TLS_KEY");
  app.add_option("--tls-server-name", cli.tls_server_name, "name expected in the services' certificate (default: --host)");
  app.add_option("--token-file", cli.token_file, "bearer token file, first token used (default: site grpc.token_file)")
      ->envname("PACSPULL_GRPC_TOKEN_FILE");
}

void Cli::emit(const json& doc, const std::function<void()>& text) const {
  if (json_output()) {
    std::cout << doc.dump(2, ' ', false, json::error_handler_t::replace) << std::endl;
  } else {
    text();
    std::cout.flush();
  }
}

int Cli::fail(int code, const std::string& message) const {
  std::cerr << message << "\n";
  if (json_output()) std::cout << json{{"error", message}, {"exit_code", code}}.dump(2, ' ', false, json::error_handler_t::replace) << std::endl;
  return code;
}

int Cli::check(const grpc::Status& s, const char* what) const {
  if (s.ok()) return kOk;
  return fail(kFailed, std::string(what) + ": " + s.error_message() + " (gRPC code " +
                           std::to_string(static_cast<int>(s.error_code())) + ")");
}

std::unique_ptr<grpc::ClientContext> rpc_context(int seconds) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  if (!g_bearer.empty()) c->AddMetadata("authorization", "Bearer " + g_bearer);
  return c;
}

std::string when(int64_t secs) {
  if (secs == 0) return "-";
  std::time_t t = secs;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

}  // namespace pacspull::pullctl
