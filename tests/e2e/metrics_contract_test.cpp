// The metrics contract (deploy/grafana/README.md) is what the code exports: a real
// Prometheus scrapes the six services during a generated day's pull, and every dashboard
// query and alert expression must find the metrics and labels it names
// (tests/e2e/metrics_contract.py).
#include <catch2/catch.hpp>

#include "pipeline_fixture.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

TEST_CASE("Every dashboard query and alert expression finds its metrics and labels in a running stack",
          "[e2e][metrics]") {
  PipelineFixture f("e2e-metrics");
  f.upload_part("initial");
  f.start_all();
  // Scrape while the day is pulled: from the first study found.
  REQUIRE(f.wait_count("SELECT count(*) FROM studies", 1, 120));
  const fs::path out = f.dir() / "metrics_contract.out";
  const std::string src = env_or("PACSPULL_SOURCE_DIR", ".");
  int rc = run_command({"/usr/bin/python3", src + "/tests/e2e/metrics_contract.py", f.config_path().string(), src,
                        (f.dir() / "prometheus").string(), "--scrape-seconds", "40"},
                       std::chrono::seconds(240), out);
  INFO(read_file(out));
  CHECK(rc == 0);
  CHECK(f.count("SELECT count(*) FROM instances") > 0);  // it scraped a pull, not an idle stack
}
