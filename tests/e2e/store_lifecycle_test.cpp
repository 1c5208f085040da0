// The store after a day's pull with default settings (keep_after_dispatch 0, retention
// 24h): no file of a dispatched study is left in it but each series' first image (kept for
// `filter explain` and `replay`), every instance row stays in the ledger, and only studies that ended not dispatched keep their files (retention).
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>

#include "pipeline_fixture.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

TEST_CASE("After a day's pull with default settings the store holds no file of a dispatched study but first images",
          "[e2e][storage]") {
  PipelineFixture f("e2e-store");
  f.upload_part("initial");
  f.start_all();
  long expected = 0;
  for (const auto& s : f.manifest()["studies"])
    if (s["expected"]["state"] != "not_pulled") ++expected;
  REQUIRE(f.wait_count("SELECT count(*) FROM studies WHERE state IN ('completed', 'unsupported', 'failed')", expected,
                       300));
  const std::string dispatched =
      "FROM studies s WHERE s.state = 'completed' AND EXISTS (SELECT 1 FROM dispatches d WHERE d.study_uid = "
      "s.study_uid AND d.status = 'sent')";
  const long n = f.count("SELECT count(*) " + dispatched);
  REQUIRE(n > 0);
  // The receiver's sweep runs every few seconds.
  CHECK(f.wait_count("SELECT count(*) " + dispatched + " AND s.files_deleted_at IS NOT NULL", n, 60));
  // Only each series' first image stays (filter explain and replay re-read it).
  CHECK(f.count("SELECT count(*) FROM instances i JOIN studies s USING (study_uid) WHERE s.state = 'completed' AND "
                "i.deleted_at IS NULL AND i.path NOT IN (SELECT first_instance_path FROM series)") == 0);
  CHECK(f.count("SELECT count(*) FROM instances i JOIN studies s USING (study_uid) WHERE s.state = 'completed' AND "
                "i.deleted_at IS NOT NULL") > 0);
  CHECK(f.count("SELECT count(*) FROM instances") > 0);  // the ledger keeps the record

  // On disk: every file left belongs to a study not dispatched (kept for `retention`).
  std::istringstream kept(
      f.query("SELECT string_agg(p, E'\\n') FROM (SELECT path AS p FROM instances WHERE deleted_at IS NULL UNION ALL "
              "SELECT conflict_path FROM instance_conflicts WHERE deleted_at IS NULL) k"));
  std::set<std::string> allowed;
  for (std::string line; std::getline(kept, line);) allowed.insert(line);
  long stray = 0;
  std::string first;
  for (auto it = fs::recursive_directory_iterator(f.dir() / "store"); it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_regular_file()) continue;
    if (allowed.count(it->path().string())) continue;
    if (++stray == 1) first = it->path().string();
  }
  INFO("first stray file: " << first);
  CHECK(stray == 0);
  CHECK(f.count("SELECT count(*) FROM events WHERE kind = 'files-deleted'") >= n);
}
