// Config keys of issue 11 parts 1-2: who may send to the receiver, unsolicited images, and
// DICOM TLS per peer and for the receiver.
#include <catch2/catch.hpp>

#include "pacspull/config/site_config.hpp"

using namespace pacspull;
using namespace pacspull::config;
using Catch::Contains;

namespace {
const char* kBase = R"(site: t
ledger: {url: "postgresql://x@127.0.0.1/db"}
bus: {url: "nats://127.0.0.1:4222"}
ai_node: {ae_title: AI, host: 127.0.0.1, port: 11113}
)";

std::string refused(const std::string& yaml) {
  try {
    parse_site_config(yaml, "site.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("accepted: " << yaml);
  return {};
}
}  // namespace

TEST_CASE("Secure by default: only the configured PACS may send, no unsolicited images, no TLS") {
  SiteConfig c = parse_site_config(std::string(kBase) + "pacs:\n  - {name: main, ae_title: PACS, host: 10.0.0.5, port: 104}\n",
                                   "s.yaml");
  CHECK_FALSE(c.receiver.accept_any_caller);
  CHECK_FALSE(c.receiver.accept_unsolicited);
  CHECK(c.receiver.allowed_callers.empty());
  CHECK_FALSE(c.receiver.tls.enabled);
  const pipeline::CallerPolicy p = caller_policy(c);
  CHECK_FALSE(p.accept_any);
  CHECK(pipeline::admit_caller(p, "PACS", "10.9.9.9").accepted());
  CHECK(pipeline::admit_caller(p, "STRANGER", "10.0.0.5").verdict == pipeline::CallerVerdict::UnknownCallingAe);
}

TEST_CASE("PACS addresses, allowed callers as AE titles or with addresses, and the open door") {
  SiteConfig c = parse_site_config(std::string(kBase) + R"(pacs:
  - {name: main, ae_title: PACS, host: pacs.local, port: 104, addresses: [10.0.0.5, "10.1.0.0/16", "2001:db8::/32"]}
receiver:
  allowed_callers:
    - MODALITY1
    - {ae_title: WORKSTATION, addresses: ["192.168.7.0/24"]}
  accept_unsolicited: true
)", "s.yaml");
  REQUIRE(c.pacs[0].addresses.size() == 3);
  CHECK(c.pacs[0].addresses[1].str() == "10.1.0.0/16");
  REQUIRE(c.receiver.allowed_callers.size() == 2);
  CHECK(c.receiver.allowed_callers[0].ae_title.str() == "MODALITY1");
  CHECK(c.receiver.allowed_callers[0].networks.empty());
  CHECK(c.receiver.allowed_callers[1].networks.at(0).str() == "192.168.7.0/24");
  CHECK(c.receiver.accept_unsolicited);
  const pipeline::CallerPolicy p = caller_policy(c);
  CHECK(pipeline::admit_caller(p, "PACS", "10.1.2.3").accepted());
  CHECK(pipeline::admit_caller(p, "PACS", "2001:db8::1").accepted());
  CHECK(pipeline::admit_caller(p, "PACS", "10.2.0.1").verdict == pipeline::CallerVerdict::AddressNotAllowed);
  CHECK(pipeline::admit_caller(p, "MODALITY1", "8.8.8.8").accepted());
  CHECK(pipeline::admit_caller(p, "WORKSTATION", "192.168.7.9").accepted());
  CHECK(pipeline::admit_caller(p, "WORKSTATION", "192.168.8.9").verdict == pipeline::CallerVerdict::AddressNotAllowed);

  SiteConfig open = parse_site_config(std::string(kBase) +
                                          "pacs:\n  - {name: main, ae_title: PACS, host: h, port: 104}\n"
                                          "receiver: {accept_any_caller: true}\n",
                                      "s.yaml");
  CHECK(pipeline::admit_caller(caller_policy(open), "STRANGER", "1.2.3.4").accepted());
}

TEST_CASE("The environment overrides allowed_callers and the flags") {
  SiteConfig c = parse_site_config(std::string(kBase) + "pacs:\n  - {name: main, ae_title: PACS, host: h, port: 104}\n",
                                   "s.yaml",
                                   {{"PACSPULL_RECEIVER_ALLOWED_CALLERS", "A,B"},
                                    {"PACSPULL_RECEIVER_ACCEPT_UNSOLICITED", "true"},
                                    {"PACSPULL_RECEIVER_TLS_ENABLED", "true"},
                                    {"PACSPULL_RECEIVER_TLS_CERTIFICATE", "/etc/pacspull/rx.pem"},
                                    {"PACSPULL_RECEIVER_TLS_PRIVATE_KEY", "/etc/pacspull/rx.key"},
                                    {"PACSPULL_RECEIVER_TLS_VERIFY_PEER", "false"}});
  REQUIRE(c.receiver.allowed_callers.size() == 2);
  CHECK(c.receiver.allowed_callers[1].ae_title.str() == "B");
  CHECK(c.receiver.accept_unsolicited);
  CHECK(c.receiver.tls.enabled);
  CHECK(c.receiver.tls.certificate == "/etc/pacspull/rx.pem");
  CHECK_FALSE(c.receiver.tls.verify_peer);
}

TEST_CASE("Bad addresses and AE titles in the access keys are named with their line") {
  std::string e = refused(std::string(kBase) + R"(pacs:
  - {name: main, ae_title: PACS, host: h, port: 104, addresses: ["10.1.2.3/16", pacs.example.org]}
receiver:
  allowed_callers: [{ae_title: X, addresses: ["10.0.0.0/40"]}, {ae_title: Y, hosts: [a]}, THIS_AE_IS_FAR_TOO_LONG]
  accept_any_caller: maybe
)");
  CHECK_THAT(e, Contains("site.yaml:6: 'pacs.0.addresses': '10.1.2.3/16' has host bits set"));
  CHECK_THAT(e, Contains("'pacs.example.org' is not an IPv4 or IPv6 address"));
  CHECK_THAT(e, Contains("'receiver.allowed_callers.0.addresses': '10.0.0.0/40': the prefix length must be 0..32"));
  CHECK_THAT(e, Contains("unknown key 'hosts' in 'receiver.allowed_callers.1'"));
  CHECK_THAT(e, Contains("'receiver.allowed_callers.2': an AE title of 1 to 16 characters"));
  CHECK_THAT(e, Contains("'receiver.accept_any_caller' must be true or false, not 'maybe'"));
}

TEST_CASE("TLS per peer and for the receiver") {
  SiteConfig c = parse_site_config(std::string(R"(site: t
ledger: {url: "postgresql://x@127.0.0.1/db"}
bus: {url: "nats://127.0.0.1:4222"}
pacs:
  - name: main
    ae_title: PACS
    host: h
    port: 2762
    tls: {enabled: true, certificate: /k/scu.pem, private_key: /k/scu.key, ca_certificates: /k/ca.pem}
targets:
  - name: ai
    ae_title: AI
    host: ai
    port: 2762
    tls: {enabled: true, ca_certificates: [/k/ca.pem, /k/cas/], verify_peer: true}
receiver:
  tls: {enabled: true, certificate: /k/rx.pem, private_key: /k/rx.key, ca_certificates: /k/ca.pem}
)"),
                                   "s.yaml");
  CHECK(c.pacs[0].node.tls.enabled);
  CHECK(c.pacs[0].node.tls.certificate == "/k/scu.pem");
  CHECK(c.pacs[0].node.tls.ca_certificates == std::vector<std::string>{"/k/ca.pem"});
  CHECK(c.pacs[0].node.tls.verify_peer);
  CHECK(c.targets.at(0).node.tls.ca_certificates == std::vector<std::string>{"/k/ca.pem", "/k/cas/"});
  CHECK(c.receiver.tls.enabled);
  CHECK(c.receiver.tls.private_key == "/k/rx.key");

  SiteConfig plain = parse_site_config(std::string(kBase) + "pacs:\n  - {name: main, ae_title: PACS, host: h, port: 104}\n",
                                       "s.yaml");
  CHECK_FALSE(plain.ai_node.tls.enabled);
  CHECK_FALSE(plain.targets.at(0).node.tls.enabled);

  std::string e = refused(std::string(kBase) + R"(pacs:
  - {name: main, ae_title: PACS, host: h, port: 104, tls: {enabled: true, certificate: /a.pem}}
receiver:
  tls: {enabled: true, ca_certificates: /ca.pem, ciphers: all}
)");
  CHECK_THAT(e, Contains("'pacs.0.tls.certificate' and 'pacs.0.tls.private_key' go together"));
  CHECK_THAT(e, Contains("'pacs.0.tls.verify_peer' needs 'ca_certificates'"));
  CHECK_THAT(e, Contains("'receiver.tls' needs 'certificate' and 'private_key'"));
  CHECK_THAT(e, Contains("unknown key 'ciphers' in 'receiver.tls'"));
}
