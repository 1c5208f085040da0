// `targets:` in the site file (issue 10 part 2): several AI nodes and bus-only targets, and
// `ai_node:` still working as the one target.
#include <catch2/catch.hpp>

#include "pacspull/config/site_config.hpp"

using namespace pacspull::config;
using Catch::Contains;

namespace {
const char* kBase = R"(site: t
ledger: {url: "postgresql://x@127.0.0.1/db"}
bus: {url: "nats://127.0.0.1:4222"}
pacs:
  - {name: main, ae_title: PACS, host: 10.0.0.5, port: 104}
)";
}  // namespace

TEST_CASE("ai_node alone is the one target 'ai_node', taking every family") {
  SiteConfig c = parse_site_config(std::string(kBase) + "ai_node: {ae_title: AI, host: 127.0.0.1, port: 11113}\n", "s");
  REQUIRE(c.targets.size() == 1);
  CHECK(c.targets[0].name == "ai_node");
  CHECK(c.targets[0].kind == "dicom");
  CHECK(c.targets[0].node.port == 11113);
  CHECK(c.targets[0].families.empty());
  CHECK_FALSE(c.targets[0].deidentify);
  CHECK(c.targets[0].window == 1);
}

TEST_CASE("targets: dicom and bus targets with families, de-identification, transfer syntax and window") {
  SiteConfig c = parse_site_config(std::string(kBase) + R"(targets:
  - {name: ct-ai, ae_title: CTAI, host: 10.0.0.21, port: 104, families: [CT], window: 3,
     deidentify: true, retain_dates: true, clean_descriptors: yes, deid_key: secret}
  - {name: dx-ai, ae_title: DXAI, host: 10.0.0.22, port: 104, families: [DX], transfer_syntax: explicit-little-endian}
  - {name: worklist, kind: bus}
)",
                                   "s", {{"PACSPULL_TARGETS_1_PORT", "2104"}});
  REQUIRE(c.targets.size() == 3);
  CHECK(c.targets[0].families == std::vector<std::string>{"CT"});
  CHECK(c.targets[0].window == 3);
  CHECK(c.targets[0].deidentify);
  CHECK(c.targets[0].retain_dates);
  CHECK(c.targets[0].clean_descriptors);
  CHECK_FALSE(c.targets[0].retain_uids);
  CHECK(c.targets[0].deid_key == "secret");
  CHECK(c.targets[1].transfer_syntax == "explicit-little-endian");
  CHECK(c.targets[1].node.port == 2104);  // environment override by index
  CHECK(c.targets[2].kind == "bus");
}

TEST_CASE("Bad targets are refused with the line") {
  auto bad = [](const std::string& targets) {
    try {
      parse_site_config(std::string(kBase) + targets, "site.yaml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(bad("targets:\n  - {name: a, kind: ftp}\n"), Contains("must be dicom or bus"));
  CHECK_THAT(bad("targets:\n  - {name: a, ae_title: A, host: h, port: 1, families: [MR]}\n"), Contains("CT or DX"));
  CHECK_THAT(bad("targets:\n  - {name: a, ae_title: A, host: h, port: 1, transfer_syntax: jpeg}\n"),
             Contains("transfer_syntax"));
  CHECK_THAT(bad("targets:\n  - {name: a, kind: bus}\n  - {name: a, kind: bus}\n"), Contains("duplicate target name 'a'"));
  CHECK_THAT(bad("targets:\n  - {name: a, ae_title: A, host: h}\n"), Contains("site.yaml:") && Contains("port"));
  CHECK_THAT(bad("targets:\n  - {name: a, kind: bus, window: 0}\n"), Contains("window"));
  CHECK_THAT(bad("targets:\n  - {name: a, kind: bus, deidentify: maybe}\n"), Contains("true or false"));
  CHECK_THAT(bad("targets: []\n"), Contains("at least one target"));
}
