// The site's `grpc:` section (issue 11 part 3) and the token comparison.
#include <catch2/catch.hpp>

#include "minimal_site.hpp"
#include "pacspull/config/site_config.hpp"
#include "pacspull/rpc/access.hpp"

using namespace pacspull::config;
using Catch::Contains;

namespace {
const std::string kMinimal = testing::kMinimalSite;
}  // namespace

TEST_CASE("gRPC defaults: loopback, plaintext, no token, reads open") {
  SiteConfig c = parse_site_config(kMinimal, "min.yaml");
  CHECK(c.grpc.bind == "127.0.0.1");
  CHECK(c.grpc.tls_cert_file.empty());
  CHECK(c.grpc.client_cert == "none");
  CHECK(c.grpc.token_file.empty());
  CHECK_FALSE(c.grpc.read_requires_auth());
  CHECK(c.finder.ports.grpc_bind.empty());
}

TEST_CASE("gRPC keys, per-service bind and environment overrides") {
  std::string s = std::string(kMinimal) +
                  "grpc: {bind: 0.0.0.0, tls_cert_file: /t/s.pem, tls_key_file: /t/s.key, ca_file: /t/ca.pem}\n"
                  "filter: {grpc_port: 50054, grpc_bind: 10.1.2.3}\n";
  SiteConfig c = parse_site_config(s, "s.yaml", {{"PACSPULL_GRPC_TOKEN_FILE", "/run/secrets/grpc-tokens"}});
  CHECK(c.grpc.bind == "0.0.0.0");
  CHECK(c.grpc.client_cert == "optional");  // a CA given: certificates authenticate when presented
  CHECK(c.grpc.token_file == "/run/secrets/grpc-tokens");
  CHECK(c.grpc.read_requires_auth());  // once a credential exists, reads need one too
  CHECK(c.filter.ports.grpc_bind == "10.1.2.3");
  SiteConfig open = parse_site_config(s, "s.yaml",
                                      {{"PACSPULL_GRPC_READ_ACCESS", "open"}, {"PACSPULL_GRPC_CLIENT_CERT", "require"}});
  CHECK_FALSE(open.grpc.read_requires_auth());
  CHECK(open.grpc.client_cert == "require");
}

TEST_CASE("Bad gRPC settings are refused with the key at fault") {
  auto refused = [](const std::string& extra) {
    try {
      parse_site_config(std::string(kMinimal) + extra, "bad.yaml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(refused("grpc: {client_cert: always}\n"), Contains("'grpc.client_cert' must be none, optional or require"));
  CHECK_THAT(refused("grpc: {client_cert: require}\n"), Contains("needs 'grpc.ca_file' and TLS"));
  CHECK_THAT(refused("grpc: {tls_cert_file: /a.pem}\n"), Contains("go together"));
  CHECK_THAT(refused("grpc: {read_access: maybe}\n"), Contains("'grpc.read_access' must be open or authenticated"));
  CHECK_THAT(refused("grpc: {bnid: 0.0.0.0}\n"), Contains("unknown key 'bnid' in 'grpc'"));
  CHECK_THAT(refused("grpc: {bind: \"\"}\n"), Contains("'grpc.bind' must not be empty"));
}

TEST_CASE("Tokens compare equal only when identical, whatever the lengths") {
  using pacspull::rpc::constant_time_equal;
  CHECK(constant_time_equal("ops:0123456789abcdef", "ops:0123456789abcdef"));
  CHECK_FALSE(constant_time_equal("ops:0123456789abcdef", "ops:0123456789abcdeF"));
  CHECK_FALSE(constant_time_equal("ops:0123456789abcdef", "ops:0123456789abcde"));
  CHECK_FALSE(constant_time_equal("", "x"));
  CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), "a"));
  CHECK(constant_time_equal("", ""));
}
