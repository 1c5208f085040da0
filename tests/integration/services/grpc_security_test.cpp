// gRPC security and the audit trail (issue 11 parts 3 and 6), against a real filter
// service (real PostgreSQL and nats-server) driven by the real pullctl: the bind address
// (read back from the kernel's listening sockets), a token for state-changing calls,
// Explain confined to the store, TLS and mTLS with certificates made here by openssl, and
// the audit rows those calls leave in the ledger (pullctl audit-log).
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "orthanc.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kToken = "ops-alice:3f9a1c55d2e84b7a9c0e11f2a6b4d8e7";

// The local addresses listening on `port`, from /proc/net/tcp{,6}: "127.0.0.1" (also as
// IPv4-mapped IPv6, which gRPC's dual-stack sockets show), "any" (0.0.0.0 or ::), else hex.
std::set<std::string> listening_addresses(uint16_t port) {
  std::set<std::string> out;
  char want[8];
  std::snprintf(want, sizeof want, "%04X", port);
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string slot, local, remote, state;
      f >> slot >> local >> remote >> state;
      auto colon = local.rfind(':');
      if (state != "0A" || local.substr(colon + 1) != want) continue;
      std::string a = local.substr(0, colon);
      if (a == "0100007F" || a == "0000000000000000FFFF00000100007F") a = "127.0.0.1";
      else if (a.find_first_not_of('0') == std::string::npos) a = "any";
      out.insert(a);
    }
  }
  return out;
}

// One filter service with its own site file; pullctl runs against copies of it.
struct Filter {
  TestDatabase& db;
  fs::path dir = make_temp_dir("pacspull-grpcsec");
  uint16_t grpc_port = free_tcp_port(), metrics_port = free_tcp_port();
  std::optional<ChildProcess> proc;

  explicit Filter(TestDatabase& d) : db(d) { fs::create_directories(dir / "store"); }
  ~Filter() {
    if (proc) proc->stop();
    if (env_or("PACSPULL_KEEP_TEST_DIRS", "").empty()) fs::remove_all(dir);
  }

  fs::path site(const std::string& name, const std::string& grpc_section, const std::string& filter_extra = "") const {
    fs::path p = dir / name;
    std::ofstream f(p);
    f << "site: grpcsec\nledger: {url: \"" << db.url() << "\"}\nbus: {url: \""
      << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
      << "local: {storage_root: " << (dir / "store").string() << "}\n"
      << "pacs:\n  - {name: nowhere, ae_title: NOPACS, host: 127.0.0.1, port: 1}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
      << "filter: {grpc_port: " << grpc_port << ", metrics_port: " << metrics_port << filter_extra << "}\n"
      << grpc_section;
    return p;
  }

  void start(const fs::path& config) {
    proc = ChildProcess::spawn({bin("pacspull-filter").string(), "--config", config.string()}, {}, dir / "filter.log");
    bool up = wait_for([&] { return tcp_port_open(grpc_port) || !proc->running(); }, std::chrono::seconds(60));
    INFO(read_file(dir / "filter.log"));
    REQUIRE(up);
    REQUIRE(proc->running());
  }

  // pullctl's exit code and its stdout+stderr.
  std::pair<int, std::string> pullctl(const fs::path& config, std::vector<std::string> args) const {
    std::vector<std::string> argv{bin("pullctl").string(), "--config", config.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    fs::path out = dir / "pullctl.out";
    fs::remove(out);
    int rc = run_command(argv, std::chrono::seconds(30), out);
    return {rc, read_file(out)};
  }

  json audit(const fs::path& config, const std::string& action) const {
    auto [rc, out] = pullctl(config, {"-o", "json", "audit-log", "--action", action});
    INFO(out);
    REQUIRE(rc == 0);
    return json::parse(out.substr(out.find('{')))["entries"];
  }
};

void write(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
}

// A DICOM file (dump2dcm) at `p`.
void make_dicom(const fs::path& p) {
  write(p.string() + ".txt",
        "(0008,0016) UI =CTImageStorage\n(0008,0018) UI [1.2.826.0.1.3680043.8.498.77001]\n(0008,0060) CS [CT]\n"
        "(0018,0050) DS [1.0]\n(0020,000d) UI [1.2.826.0.1.3680043.8.498.77002]\n"
        "(0020,000e) UI [1.2.826.0.1.3680043.8.498.77003]\n");
  REQUIRE(run_command({"dump2dcm", p.string() + ".txt", p.string()}, std::chrono::seconds(20)) == 0);
}

// A CA, a server certificate for 127.0.0.1/localhost, a client certificate (CN ops-bob) from
// that CA and one from another CA.
void make_certificates(const fs::path& d) {
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  write(d / "server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  write(d / "client.ext", "extendedKeyUsage=clientAuth\n");
  std::string script = "set -e; cd " + d.string() + "\n";
  for (const char* ca : {"ca", "rogue-ca"})
    script += "openssl req -x509 " + ec + " -keyout " + ca + ".key -out " + ca + ".pem -days 2 -subj /CN=" + ca + "\n";
  auto leaf = [&](const std::string& name, const std::string& cn, const std::string& ca, const std::string& ext) {
    return "openssl req " + ec + " -keyout " + name + ".key -out " + name + ".csr -subj /CN=" + cn + "\n" +
           "openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca + ".key -CAcreateserial -out " +
           name + ".pem -days 2 -extfile " + ext + "\n";
  };
  script += leaf("server", "localhost", "ca", "server.ext") + leaf("client", "ops-bob", "ca", "client.ext") +
            leaf("rogue", "ops-mallory", "rogue-ca", "client.ext");
  fs::path log = d / "openssl.log";
  int rc = run_command({"sh", "-c", script}, std::chrono::seconds(60), log);
  INFO(read_file(log));
  REQUIRE(rc == 0);
}

// The value of the series `name{...label...}` on a /metrics page (-1: absent).
double counter(const std::string& page, const std::string& name, const std::string& label) {
  std::istringstream lines(page);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(name + "{", 0) == 0 && line.find(label) != std::string::npos)
      return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

bool has_code(const std::string& out, int code) {
  return out.find("(gRPC code " + std::to_string(code) + ")") != std::string::npos;
}

}  // namespace

TEST_CASE("Plaintext on loopback: state-changing calls need a token, Explain reads only the store, all audited") {
  TestDatabase db;
  Filter f(db);
  write(f.dir / "tokens", std::string("# operators\n") + kToken + "\n");
  write(f.dir / "wrong-token", "ops-alice:0000000000000000000000000000000\n");
  const fs::path config = f.site("site.yaml", "grpc: {token_file: " + (f.dir / "tokens").string() + "}\n");
  // pullctl without the site's token: the same services, no grpc section.
  const fs::path anonymous = f.site("anonymous.yaml", "");
  f.start(config);

  // Default bind: 127.0.0.1 only (nothing on 0.0.0.0 or ::).
  CHECK(listening_addresses(f.grpc_port) == std::set<std::string>{"127.0.0.1"});

  auto [rc_none, none] = f.pullctl(anonymous, {"filter", "reload"});
  CHECK(rc_none == 1);
  CHECK(has_code(none, 16));  // UNAUTHENTICATED
  auto [rc_wrong, wrong] = f.pullctl(anonymous, {"--token-file", (f.dir / "wrong-token").string(), "filter", "reload"});
  CHECK(rc_wrong == 1);
  CHECK(has_code(wrong, 7));  // PERMISSION_DENIED
  auto [rc_ok, ok] = f.pullctl(config, {"filter", "reload"});  // the site's token_file
  INFO(ok);
  CHECK(rc_ok == 0);
  CHECK_THAT(ok, Catch::Contains("rules version"));

  // Explain: a DICOM file in the store is read; anything outside it is refused. With a
  // token file configured, reads need a credential too (grpc.read_access's default).
  make_dicom(f.dir / "store" / "ct.dcm");
  auto [rc_anon, anon] = f.pullctl(anonymous, {"filter", "explain", (f.dir / "store" / "ct.dcm").string()});
  CHECK(rc_anon == 1);
  CHECK(has_code(anon, 16));
  auto [rc_in, in] = f.pullctl(config, {"-o", "json", "filter", "explain", (f.dir / "store" / "ct.dcm").string()});
  INFO(in);
  CHECK(rc_in == 0);
  CHECK_THAT(in, Catch::Contains("\"reason\""));
  make_dicom(f.dir / "outside.dcm");
  fs::create_symlink(f.dir / "outside.dcm", f.dir / "store" / "link.dcm");
  for (const std::string& path : {std::string("/etc/passwd"), (f.dir / "outside.dcm").string(),
                                  (f.dir / "store" / "link.dcm").string(),
                                  (f.dir / "store" / ".." / "outside.dcm").string()}) {
    auto [rc, out] = f.pullctl(config, {"filter", "explain", path});
    INFO(path << ": " << out);
    CHECK(rc == 1);
    CHECK(has_code(out, 7));
    CHECK_THAT(out, Catch::Contains("refused to read"));
  }

  // The audit trail: the refused calls (peer address), the allowed one (token id), the
  // reload it caused, the service's start with its site file.
  json denied = f.audit(config, "request.denied");
  REQUIRE(denied.size() == 3);  // newest first
  CHECK(denied[0]["object"] == "filter.Explain");
  CHECK(denied[1]["object"] == "filter.ReloadRules");
  CHECK(denied[2]["object"] == "filter.ReloadRules");
  for (const auto& e : denied) {
    CHECK(e["actor"] == "anonymous");
    CHECK_THAT(e["detail"]["peer"].get<std::string>(), Catch::Contains("127.0.0.1"));
  }
  json requests = f.audit(config, "request");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0]["actor"] == "token:ops-alice");
  CHECK(requests[0]["object"] == "filter.ReloadRules");
  json reloads = f.audit(config, "config.rules_reload");
  REQUIRE(reloads.size() == 1);
  CHECK(reloads[0]["actor"] == "token:ops-alice");
  CHECK(reloads[0]["detail"]["result"] == "applied");
  json loaded = f.audit(config, "config.");
  CHECK(std::any_of(loaded.begin(), loaded.end(), [](const json& e) { return e["action"] == "config.loaded"; }));
  // Refusals are counted.
  std::string metrics = http_request(f.metrics_port, "GET", "/metrics", {}, std::chrono::seconds(5)).body;
  CHECK(counter(metrics, "pacspull_grpc_refused_total", "code=\"unauthenticated\"") == 2);
  CHECK(counter(metrics, "pacspull_grpc_refused_total", "code=\"permission_denied\"") == 1);
  // Nothing of the secret in the trail or the log.
  auto [rc_all, all] = f.pullctl(config, {"-o", "json", "audit-log"});
  CHECK(rc_all == 0);
  CHECK(all.find("3f9a1c55d2e84b7a") == std::string::npos);
  CHECK(read_file(f.dir / "filter.log").find("3f9a1c55d2e84b7a") == std::string::npos);
}

TEST_CASE("Without a token file or mTLS every state-changing call is refused; grpc_bind opens other interfaces") {
  TestDatabase db;
  Filter f(db);
  const fs::path config = f.site("site.yaml", "", ", grpc_bind: 0.0.0.0");
  f.start(config);
  CHECK(listening_addresses(f.grpc_port) == std::set<std::string>{"any"});
  auto [rc, out] = f.pullctl(config, {"filter", "reload"});
  CHECK(rc == 1);
  CHECK(has_code(out, 7));
  CHECK_THAT(out, Catch::Contains("grpc.token_file"));
  CHECK_THAT(read_file(f.dir / "filter.log"), Catch::Contains("refused filter.ReloadRules"));
}

TEST_CASE("TLS: a plaintext client cannot talk to it; mTLS required refuses a client without a CA-signed certificate") {
  TestDatabase db;
  Filter f(db);
  make_certificates(f.dir);
  const std::string d = f.dir.string();
  write(f.dir / "tokens", std::string(kToken) + "\n");
  const std::string tls = "grpc: {tls_cert_file: " + d + "/server.pem, tls_key_file: " + d + "/server.key, ca_file: " + d +
                          "/ca.pem, token_file: " + d + "/tokens";
  const fs::path plain = f.site("plain.yaml", "");

  SECTION("server TLS with a token") {
    const fs::path config = f.site("site.yaml", tls + ", client_cert: none}\n");
    f.start(config);
    auto [rc_plain, plain_out] = f.pullctl(plain, {"--token-file", (f.dir / "tokens").string(), "filter", "reload"});
    CHECK(rc_plain == 1);
    CHECK(has_code(plain_out, 14));  // UNAVAILABLE: no TLS handshake
    auto [rc, out] = f.pullctl(config, {"filter", "reload"});  // TLS, CA and token from the site file
    INFO(out);
    CHECK(rc == 0);
    CHECK(f.audit(config, "request")[0]["actor"] == "token:ops-alice");
  }
  SECTION("mTLS required") {
    const fs::path config = f.site("site.yaml", tls + ", client_cert: require}\n");
    f.start(config);
    // The site's CA (server verified) and token, but no client certificate: no connection.
    auto [rc_nocert, nocert] = f.pullctl(config, {"filter", "reload"});
    CHECK(rc_nocert == 1);
    CHECK(has_code(nocert, 14));
    auto [rc_rogue, rogue] = f.pullctl(plain, {"--tls-ca", d + "/ca.pem", "--tls-cert", d + "/rogue.pem", "--tls-key",
                                              d + "/rogue.key", "filter", "reload"});
    CHECK(rc_rogue == 1);
    CHECK(has_code(rogue, 14));
    // A client certificate from the CA authenticates by itself (no token).
    auto [rc, out] = f.pullctl(plain, {"--tls-ca", d + "/ca.pem", "--tls-cert", d + "/client.pem", "--tls-key",
                                       d + "/client.key", "filter", "reload"});
    INFO(out);
    CHECK(rc == 0);
    json requests = f.audit(config, "request");
    REQUIRE(requests.size() == 1);
    CHECK(requests[0]["actor"] == "cert:ops-bob");
    CHECK(requests[0]["detail"]["auth"] == "cert");
  }
}
