// log.format and log.level: defaults, accepted values, and bad values rejected with the line.
#include <catch2/catch.hpp>

#include "minimal_site.hpp"
#include "pacspull/config/site_config.hpp"

using namespace pacspull::config;
using Catch::Contains;

namespace {
const std::string kBase = testing::kMinimalSite;
}  // namespace

TEST_CASE("Logs default to text at info; json and a level are accepted") {
  SiteConfig c = parse_site_config(kBase, "site.yaml");
  CHECK(c.log.format == "text");
  CHECK(c.log.level == "info");
  c = parse_site_config(kBase + "log: {format: json, level: debug}\n", "site.yaml");
  CHECK(c.log.format == "json");
  CHECK(c.log.level == "debug");
  c = parse_site_config(kBase, "site.yaml", {{"PACSPULL_LOG_FORMAT", "json"}});
  CHECK(c.log.format == "json");
}

TEST_CASE("A bad log format, level or key stops the service naming the line") {
  CHECK_THROWS_WITH(parse_site_config(kBase + "log: {format: xml}\n", "site.yaml"),
                    Contains("site.yaml:7") && Contains("log.format must be text or json"));
  CHECK_THROWS_WITH(parse_site_config(kBase + "log:\n  level: verbose\n", "site.yaml"),
                    Contains("site.yaml:8") && Contains("log.level must be"));
  CHECK_THROWS_WITH(parse_site_config(kBase + "log: {colour: true}\n", "site.yaml"), Contains("unknown key 'colour'"));
}
