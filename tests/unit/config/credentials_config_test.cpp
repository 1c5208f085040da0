// Config keys of issue 11 part 4: ledger and bus credentials from the file, the environment
// or secret files (*_FILE), placeholders refused, ledger.migrate, dispatcher.event_identifiers.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "pacspull/config/site_config.hpp"

using namespace pacspull::config;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {
const char* kBase = R"(site: t
ledger: {url: "postgresql://pacspull@db:5432/pacspull"}
bus: {url: "nats://nats:4222"}
pacs:
  - {name: main, ae_title: PACS, host: 10.0.0.5, port: 104}
ai_node: {ae_title: AI, host: 127.0.0.1, port: 11113}
)";

std::string refused(const std::string& yaml, const Environment& env = {}) {
  try {
    parse_site_config(yaml, "site.yaml", env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("accepted: " << yaml);
  return {};
}

// A secret file in the temp directory, removed at scope exit.
struct SecretFile {
  fs::path path;
  explicit SecretFile(const std::string& content) {
    path = fs::temp_directory_path() / ("pacspull-secret-" + std::to_string(std::rand()) + ".txt");
    std::ofstream(path) << content;
  }
  ~SecretFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};
}  // namespace

TEST_CASE("Defaults: no credentials, migrate auto, no identifiers on the bus") {
  SiteConfig c = parse_site_config(kBase, "site.yaml");
  CHECK(c.ledger_url == "postgresql://pacspull@db:5432/pacspull");
  CHECK(c.ledger_migrate == "auto");
  CHECK(c.bus_auth.user.empty());
  CHECK(c.bus_auth.password.empty());
  CHECK_FALSE(c.bus_auth.tls);
  CHECK_FALSE(c.dispatcher.event_identifiers);
}

TEST_CASE("Ledger credentials fold into the URL, percent-encoded; key=value strings quoted") {
  SecretFile pw("s3cr&t/pw\n");
  SiteConfig c = parse_site_config(kBase, "site.yaml",
                                   {{"PACSPULL_LEDGER_USER", "pacspull_finder"},
                                    {"PACSPULL_LEDGER_PASSWORD_FILE", pw.path.string()}});
  CHECK(c.ledger_url == "postgresql://pacspull@db:5432/pacspull?user=pacspull_finder&password=s3cr%26t%2Fpw");
  CHECK(with_pg_credentials("host=db dbname=p", "u", "it's") == "host=db dbname=p user='u' password='it\\'s'");
  CHECK(with_pg_credentials("postgresql://db/p?sslmode=require", "", "x") == "postgresql://db/p?sslmode=require&password=x");
  // The brief's alias names work too.
  SecretFile pw2("other");
  SiteConfig d = parse_site_config(kBase, "site.yaml", {{"PACSPULL_PG_PASSWORD_FILE", pw2.path.string()}});
  CHECK(d.ledger_url == "postgresql://pacspull@db:5432/pacspull?password=other");
}

TEST_CASE("Bus credentials and TLS from keys, env and secret files") {
  SecretFile pw("nats-pw\r\n");
  SiteConfig c = parse_site_config(kBase, "site.yaml",
                                   {{"PACSPULL_BUS_URL", "tls://nats:4222"}, {"PACSPULL_BUS_USER", "finder"},
                                    {"PACSPULL_BUS_TLS_CA_FILE", "/etc/ca.crt"},
                                    {"PACSPULL_NATS_PASSWORD_FILE", pw.path.string()}});
  CHECK(c.bus_url == "tls://nats:4222");
  CHECK(c.bus_auth.user == "finder");
  CHECK(c.bus_auth.password == "nats-pw");
  CHECK(c.bus_auth.tls_ca_file == "/etc/ca.crt");
  SiteConfig t = parse_site_config(kBase, "site.yaml", {{"PACSPULL_BUS_TOKEN", "tok-123"}, {"PACSPULL_BUS_TLS", "true"}});
  CHECK(t.bus_auth.token == "tok-123");
  CHECK(t.bus_auth.tls);
}

TEST_CASE("Placeholder secrets are refused wherever they come from") {
  CHECK(is_placeholder_secret("changeme"));
  CHECK(is_placeholder_secret("CHANGE_ME"));
  CHECK(is_placeholder_secret("placeholder"));
  CHECK(is_placeholder_secret("Change-Me-Before-Use"));
  CHECK_FALSE(is_placeholder_secret("k3Jd9s-a8f"));
  CHECK_FALSE(is_placeholder_secret(""));
  CHECK_THAT(refused(kBase, {{"PACSPULL_LEDGER_PASSWORD", "CHANGE_ME"}}), Contains("'ledger.password' is a placeholder"));
  SecretFile ph("changeme\n");
  CHECK_THAT(refused(kBase, {{"PACSPULL_NATS_PASSWORD_FILE", ph.path.string()}, {"PACSPULL_BUS_USER", "finder"}}),
             Contains("'bus.password' is a placeholder"));
  CHECK_THAT(refused(kBase, {{"PACSPULL_LEDGER_URL", "postgresql://pacspull:CHANGE_ME@db/pacspull"}}),
             Contains("'ledger.url' carries a placeholder password"));
  CHECK_THAT(refused(kBase, {{"PACSPULL_BUS_URL", "nats://finder:placeholder@nats:4222"}}),
             Contains("'bus.url' carries a placeholder password"));
}

TEST_CASE("Bad credential settings are refused with the key at fault") {
  CHECK_THAT(refused(kBase, {{"PACSPULL_LEDGER_PASSWORD_FILE", "/nonexistent/pacspull/pw"}}),
             Contains("cannot read the secret file '/nonexistent/pacspull/pw'"));
  SecretFile empty("");
  CHECK_THAT(refused(kBase, {{"PACSPULL_LEDGER_PASSWORD_FILE", empty.path.string()}}), Contains("is empty"));
  SecretFile pw("x1y2z3");
  CHECK_THAT(refused(kBase, {{"PACSPULL_LEDGER_PASSWORD_FILE", pw.path.string()}, {"PACSPULL_LEDGER_PASSWORD", "abc123"}}),
             Contains("not both"));
  CHECK_THAT(refused(kBase, {{"PACSPULL_BUS_PASSWORD", "abc123"}}), Contains("'bus.password' needs 'bus.user'"));
  CHECK_THAT(refused(kBase, {{"PACSPULL_BUS_USER", "u"}, {"PACSPULL_BUS_TOKEN", "t"}}), Contains("give one of"));
  CHECK_THAT(refused(kBase, {{"PACSPULL_LEDGER_MIGRATE", "sometimes"}}), Contains("'ledger.migrate' must be auto or off"));
  CHECK_THAT(refused(kBase, {{"PACSPULL_BUS_TLS_CERT_FILE", "/a.crt"}}), Contains("go together"));
}

TEST_CASE("dispatcher.event_identifiers and ledger.migrate off") {
  SiteConfig c = parse_site_config(std::string(kBase) + "dispatcher: {event_identifiers: true}\n", "site.yaml",
                                   {{"PACSPULL_LEDGER_MIGRATE", "off"}});
  CHECK(c.dispatcher.event_identifiers);
  CHECK(c.ledger_migrate == "off");
}
