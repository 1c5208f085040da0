// `ris:` (issue 9 part 9): optional; defaults; every key read; bad values and unknown keys
// rejected naming the line.
#include <catch2/catch.hpp>

#include "minimal_site.hpp"
#include "pacspull/config/site_config.hpp"

using namespace pacspull::config;
using Catch::Contains;

namespace {
const std::string kBase = testing::kMinimalSite;

std::string error_of(const std::string& yaml) {
  try {
    parse_site_config(yaml, "site.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}
}  // namespace

TEST_CASE("No ris section: no RIS") { CHECK_FALSE(parse_site_config(kBase, "site.yaml").ris); }

TEST_CASE("A ris section with defaults and with every key") {
  SiteConfig c = parse_site_config(kBase + "ris: {ae_title: RIS, host: ris.local, port: 105}\n", "site.yaml");
  REQUIRE(c.ris);
  CHECK(c.ris->name == "ris");
  CHECK(c.ris->node.ae_title.str() == "RIS");
  CHECK(c.ris->node.host == "ris.local");
  CHECK(c.ris->node.port == 105);
  CHECK(c.ris->poll_interval == Millis(60000));
  CHECK(c.ris->window_days == 1);
  CHECK(c.ris->timeout == Millis(10000));
  CHECK(c.ris->modalities.empty());
  c = parse_site_config(kBase + "ris: {name: his, ae_title: RIS, host: h, port: 1, poll_interval: 15s, window_days: 2, "
                                "timeout: 3s, modalities: [CT, DX]}\n",
                        "site.yaml");
  REQUIRE(c.ris);
  CHECK(c.ris->name == "his");
  CHECK(c.ris->poll_interval == Millis(15000));
  CHECK(c.ris->window_days == 2);
  CHECK(c.ris->timeout == Millis(3000));
  CHECK(c.ris->modalities == std::vector<std::string>{"CT", "DX"});
}

TEST_CASE("Bad ris values stop the service naming the line") {
  CHECK_THAT(error_of(kBase + "ris: {ae_title: RIS, host: h}\n"), Contains("site.yaml:7") && Contains("ris.port"));
  CHECK_THAT(error_of(kBase + "ris: {ae_title: RIS, host: h, port: 1, timeout: 0s}\n"), Contains("'ris.timeout' must be at least 1s"));
  CHECK_THAT(error_of(kBase + "ris: {ae_title: RIS, host: h, port: 1, poll_interval: 0s}\n"),
             Contains("'ris.poll_interval' must be positive"));
  CHECK_THAT(error_of(kBase + "ris: {ae_title: RIS, host: h, port: 1, window_days: 99}\n"), Contains("window_days"));
  CHECK_THAT(error_of(kBase + "ris: {ae_title: RIS, host: h, port: 1, url: x}\n"), Contains("unknown key 'url' in 'ris'"));
}
