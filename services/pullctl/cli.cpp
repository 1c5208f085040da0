#include "cli.hpp"

#include <ctime>
#include <iostream>

namespace pacspull::pullctl {

const config::SiteConfig& Cli::site() {
  if (!cfg) cfg = config::load_site_config(config_path);
  return *cfg;
}

std::shared_ptr<grpc::Channel> Cli::channel(uint16_t port) const {
  return grpc::CreateChannel(host + ":" + std::to_string(port), grpc::InsecureChannelCredentials());
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
