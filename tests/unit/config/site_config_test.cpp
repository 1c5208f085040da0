#include <catch2/catch.hpp>

#include "minimal_site.hpp"
#include "pacspull/config/site_config.hpp"
#include "pacspull/config/time_zone.hpp"

using namespace pacspull::config;
using Catch::Contains;

namespace {
const std::string kMinimal = testing::kMinimalSite;
}  // namespace

TEST_CASE("The example site file loads with the documented values") {
  SiteConfig c = load_site_config(PACSPULL_EXAMPLE_SITE, {});
  CHECK(c.site == "demo-hospital");
  CHECK(c.pacs.size() == 1);
  CHECK(c.pacs[0].node.ae_title.str() == "DEMOPACS");
  CHECK(c.finder.crossday == -1);
  CHECK(c.finder.modalities == std::vector<std::string>{"CT", "DX", "DR", "CR"});  // from the rules
  CHECK_FALSE(c.finder.modalities_set);
  CHECK(c.checker.stable_age == std::chrono::seconds(30));
  CHECK(c.receiver.dicom_port == 11112);
  CHECK_FALSE(c.rules.version().empty());
}

TEST_CASE("A minimal site gets defaults") {
  SiteConfig c = parse_site_config(kMinimal, "min.yaml");
  CHECK(c.local.ae_title.str() == "PACSPULL");
  CHECK(c.local.dimse_timeout == std::chrono::seconds(60));
  CHECK(c.mover.max_attempts == 5);
}

TEST_CASE("Unknown keys and bad values are rejected with the line at fault") {
  std::string bad = std::string(kMinimal) + "checker:\n  stable_age: soon\n  max_repul: 3\nfinder: {crossday: 2}\n";
  try {
    parse_site_config(bad, "site.yaml");
    FAIL("accepted a bad configuration");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Contains("site.yaml:8: 'checker.stable_age': not a duration: 'soon'"));
    CHECK_THAT(e.what(), Contains("site.yaml:9: unknown key 'max_repul' in 'checker'"));
    CHECK_THAT(e.what(), Contains("'finder.crossday' must be a whole number from -30 to 0, not '2'"));
  }
}

TEST_CASE("Missing essentials are named") {
  try {
    parse_site_config("site: x\n", "s.yaml");
    FAIL("accepted an empty site");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Contains("missing 'ledger.url'"));
    CHECK_THAT(e.what(), Contains("'pacs' must list at least one PACS node"));
    CHECK_THAT(e.what(), Contains("missing 'ai_node.host'"));
  }
}

TEST_CASE("DCMTK's wait-forever timeouts are refused") {
  std::string s = std::string(kMinimal) + "local: {dimse_timeout: 0s}\n";
  CHECK_THROWS_WITH(parse_site_config(s, "s.yaml"), Contains("DICOM timeouts must be positive"));
}

TEST_CASE("Environment variables override scalars, lists and list items") {
  Environment env{{"PACSPULL_LEDGER_URL", "postgresql://other/db"},
                  {"PACSPULL_RECEIVER_DICOM_PORT", "4104"},
                  {"PACSPULL_PACS_0_HOST", "pacs.hospital"},
                  {"PACSPULL_FINDER_MODALITIES", "CT,DX"}};
  SiteConfig c = parse_site_config(kMinimal, "min.yaml", env);
  CHECK(c.ledger_url == "postgresql://other/db");
  CHECK(c.receiver.dicom_port == 4104);
  CHECK(c.pacs[0].node.host == "pacs.hospital");
  CHECK(c.finder.modalities == std::vector<std::string>{"CT", "DX"});
  CHECK(c.finder.modalities_set);
  Environment bad{{"PACSPULL_RECEIVER_DICOM_PORT", "eleven"}};
  CHECK_THROWS_WITH(parse_site_config(kMinimal, "min.yaml", bad), Contains("'receiver.dicom_port' must be a whole number"));
}

TEST_CASE("Durations") {
  CHECK(parse_duration("500ms") == std::chrono::milliseconds(500));
  CHECK(parse_duration("2h") == std::chrono::hours(2));
  CHECK(parse_duration("0") == std::chrono::milliseconds(0));
  CHECK_THROWS(parse_duration("5"));
  CHECK_THROWS(parse_duration("s"));
}

TEST_CASE("timezone names an IANA zone; unknown zones stop the service naming the line") {
  SiteConfig c = parse_site_config(std::string(kMinimal) + "timezone: Asia/Shanghai\n", "s.yaml");
  CHECK(c.timezone == "Asia/Shanghai");
  CHECK(c.zone.name() == "Asia/Shanghai");
  CHECK(c.zone.offset_at(pacspull::core::Time{}) == 8 * 3600);
  SiteConfig moscow = parse_site_config(kMinimal, "s.yaml", {{"PACSPULL_TIMEZONE", "Europe/Moscow"}});
  CHECK(moscow.zone.name() == "Europe/Moscow");
  for (const char* bad : {"Asia/Shangai", "../../etc/passwd", "/etc/localtime", "Asia", "Asia/"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_site_config(std::string(kMinimal) + "timezone: \"" + bad + "\"\n", "s.yaml"),
                      Contains("s.yaml:7: 'timezone': unknown time zone"));
  }
}

TEST_CASE("Without timezone the host's zone is used") {
  SiteConfig c = parse_site_config(kMinimal, "s.yaml");
  CHECK(c.timezone.empty());
  CHECK(c.zone.name() == host_time_zone().name());
}

TEST_CASE("finder.modalities derives from the enabled rule families unless the site sets it") {
  SiteConfig ot = parse_site_config(std::string(kMinimal) + "rules: {dx: {enabled_modalities: [DX, CR, OT]}}\n", "s.yaml");
  CHECK(ot.finder.modalities == std::vector<std::string>{"CT", "DX", "CR", "OT"});
  SiteConfig dx_only = parse_site_config(std::string(kMinimal) + "rules: {ct: {enabled: false}}\n", "s.yaml");
  CHECK(dx_only.finder.modalities == std::vector<std::string>{"DX", "DR", "CR"});
  SiteConfig own = parse_site_config(std::string(kMinimal) + "finder: {modalities: [CT]}\n", "s.yaml");
  CHECK(own.finder.modalities == std::vector<std::string>{"CT"});
  CHECK(own.finder.modalities_set);
  CHECK_THROWS_WITH(parse_site_config(std::string(kMinimal) + "finder: {modalities: []}\n", "s.yaml"),
                    Contains("'finder.modalities' must name at least one modality"));
  CHECK_THROWS_WITH(
      parse_site_config(std::string(kMinimal) + "rules: {ct: {enabled: false}, dx: {enabled: false}}\n", "s.yaml"),
      Contains("the rules enable no modality"));
}

TEST_CASE("The host's zone follows TZ like the C library, else /etc/localtime") {
  const char* saved = std::getenv("TZ");
  std::string keep = saved ? saved : "";
  setenv("TZ", ":Asia/Shanghai", 1);
  CHECK(host_time_zone().name() == "Asia/Shanghai");
  setenv("TZ", "Europe/Moscow", 1);
  CHECK(host_time_zone().offset_at(pacspull::core::Time{} + std::chrono::hours(24 * 365 * 56)) == 3 * 3600);
  setenv("TZ", "CST-8", 1);  // a POSIX rule, not a file
  CHECK(host_time_zone().offset_at(pacspull::core::Time{}) == 8 * 3600);
  setenv("TZ", "/usr/share/zoneinfo/America/New_York", 1);
  CHECK(host_time_zone().offset_at(pacspull::core::Time{}) == -5 * 3600);
  unsetenv("TZ");
  CHECK_FALSE(host_time_zone().name().empty());  // /etc/localtime, or UTC without it
  if (saved) setenv("TZ", keep.c_str(), 1);
}

TEST_CASE("Receiver store life cycle keys: defaults, values, bad watermarks named") {
  SiteConfig d = parse_site_config(kMinimal, "min.yaml");
  CHECK(d.receiver.keep_after_dispatch == std::chrono::seconds(0));
  CHECK(d.receiver.retention == std::chrono::hours(24));
  CHECK(d.receiver.storage_high_watermark.value == 90);
  CHECK(d.receiver.storage_low_watermark.value == 80);
  CHECK(d.receiver.drain_grace == std::chrono::seconds(30));
  SiteConfig c = parse_site_config(std::string(kMinimal) +
                                       "receiver: {keep_after_dispatch: 10m, retention: 2h, storage_high_watermark: "
                                       "20GiB, storage_low_watermark: 10GiB, stale_temp_age: 30m, drain_grace: 5s}\n",
                                   "s.yaml");
  CHECK(c.receiver.keep_after_dispatch == std::chrono::minutes(10));
  CHECK(c.receiver.storage_high_watermark.kind == pacspull::pipeline::Watermark::Kind::Bytes);
  CHECK(c.receiver.storage_low_watermark.value == 10.0 * 1073741824);
  CHECK(c.receiver.stale_temp_age == std::chrono::minutes(30));
  CHECK_THROWS_WITH(parse_site_config(std::string(kMinimal) + "receiver: {storage_high_watermark: lots}\n", "s.yaml"),
                    Contains("s.yaml:7") && Contains("'receiver.storage_high_watermark' must be a percentage"));
  CHECK_THROWS_WITH(parse_site_config(std::string(kMinimal) + "receiver: {storage_high_watermark: 70%}\n", "s.yaml"),
                    Contains("must not be above 'receiver.storage_high_watermark'"));
}

TEST_CASE("bus.stream_replicas: 1 by default, 3 for a JetStream cluster, bounded by JetStream's 5") {
  CHECK(parse_site_config(kMinimal, "min.yaml").bus_stream_replicas == 1);
  std::string three = kMinimal;
  three.replace(three.find("bus: {url: \"nats://127.0.0.1:4222\"}"), 35,
                "bus: {url: \"nats://127.0.0.1:4222\", stream_replicas: 3}");
  CHECK(parse_site_config(three, "three.yaml").bus_stream_replicas == 3);
  CHECK(parse_site_config(kMinimal, "min.yaml", {{"PACSPULL_BUS_STREAM_REPLICAS", "3"}}).bus_stream_replicas == 3);
  try {
    parse_site_config(kMinimal, "min.yaml", {{"PACSPULL_BUS_STREAM_REPLICAS", "7"}});
    FAIL("accepted 7 replicas");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Contains("'bus.stream_replicas' must be a whole number from 1 to 5, not '7'"));
  }
}

TEST_CASE("pacs[].retrieve: move by default, get for firewalled sites, auto, anything else refused") {
  CHECK(parse_site_config(kMinimal, "min.yaml").pacs.at(0).retrieve == "move");
  const std::string get = std::string(kMinimal).replace(std::string(kMinimal).find("port: 104}"), 10,
                                                         "port: 104, retrieve: get}");
  CHECK(parse_site_config(get, "get.yaml").pacs.at(0).retrieve == "get");
  const std::string automatic = std::string(kMinimal).replace(std::string(kMinimal).find("port: 104}"), 10,
                                                               "port: 104, retrieve: auto}");
  CHECK(parse_site_config(automatic, "auto.yaml").pacs.at(0).retrieve == "auto");
  const std::string bad = std::string(kMinimal).replace(std::string(kMinimal).find("port: 104}"), 10,
                                                         "port: 104, retrieve: push}");
  try {
    parse_site_config(bad, "bad.yaml");
    FAIL("accepted retrieve: push");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Contains("bad.yaml:5: pacs.0.retrieve must be move, get or auto, not 'push'"));
  }
}

TEST_CASE("finder.sample_headers: auto by default, on or off, anything else refused naming the key") {
  CHECK(parse_site_config(kMinimal, "s.yaml").finder.sample_headers == "auto");
  for (const char* mode : {"auto", "on", "off"})
    CHECK(parse_site_config(std::string(kMinimal) + "finder: {sample_headers: " + mode + "}\n", "s.yaml")
              .finder.sample_headers == mode);
  CHECK_THROWS_WITH(parse_site_config(std::string(kMinimal) + "finder: {sample_headers: always}\n", "s.yaml"),
                    Contains("'finder.sample_headers' must be auto, on or off, not 'always'"));
  CHECK(load_site_config(PACSPULL_EXAMPLE_SITE, {}).finder.sample_headers == "auto");  // documented there
}
