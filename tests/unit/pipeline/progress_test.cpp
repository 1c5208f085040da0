#include <catch2/catch.hpp>

#include "pacspull/pipeline/progress.hpp"

using namespace pacspull::pipeline;

TEST_CASE("Modalities fold into CT, the DX family, or themselves") {
  CHECK(modality_group("CT\\PR") == "CT");
  CHECK(modality_group("MG\\CT") == "CT");
  CHECK(modality_group("CR") == "DX");
  CHECK(modality_group("DX\\PR") == "DX");
  CHECK(modality_group("MR") == "MR");
  CHECK(modality_group("CTA") == "CTA");  // "contains" means a whole code, not a substring
  CHECK(modality_group("") == "?");
}

TEST_CASE("Stages: pulled is received or later, done is completed or unsupported") {
  std::vector<StateRow> rows{
      {"CT", "pulling", 2, 0, 0, 600, 100},   {"CT", "received", 1, 0, 0, 300, 300},
      {"CT\\PR", "completed", 3, 3, 3, 900, 900}, {"CT", "unsupported", 1, 1, 0, 20, 20},
      {"DX", "found", 4, 0, 0, 8, 0},         {"CR", "failed", 1, 0, 0, 2, 0},
  };
  Progress p = fold_progress(rows);
  const StageCounts& ct = p.by_group.at("CT");
  CHECK(ct.found == 7);
  CHECK(ct.pulled == 5);
  CHECK(ct.filtered == 4);
  CHECK(ct.dispatched == 3);
  CHECK(ct.done == 4);
  CHECK(ct.pending() == 3);
  CHECK(ct.states.at("pulling") == 2);
  const StageCounts& dx = p.by_group.at("DX");
  CHECK(dx.found == 5);
  CHECK(dx.failed == 1);
  CHECK(dx.pending() == 4);
  CHECK(p.total.found == 12);
  CHECK(p.total.pacs_instances == 1830);
  CHECK(p.total.received_instances == 1320);
}

TEST_CASE("Rates use the recent window, or the time since the day started when shorter") {
  StageCounts total;
  total.found = 10;
  total.done = 4;
  total.pacs_instances = 1000;
  total.received_instances = 400;
  Rates r = compute_rates(total, {300, 120, 2, 240});
  CHECK(r.window_seconds == Approx(120));
  CHECK(r.studies_per_minute == Approx(1.0));
  CHECK(r.instances_per_second == Approx(2.0));
  // 6 studies at 1/min = 360 s; 600 instances at 2/s = 300 s: the larger wins.
  REQUIRE(r.eta_seconds);
  CHECK(*r.eta_seconds == Approx(360));
}

TEST_CASE("No ETA while nothing moves; zero when nothing is pending") {
  StageCounts total;
  total.found = 3;
  total.done = 1;
  CHECK_FALSE(compute_rates(total, {300, 1000, 0, 0}).eta_seconds);
  total.done = 3;
  auto r = compute_rates(total, {300, 1000, 0, 0});
  REQUIRE(r.eta_seconds);
  CHECK(*r.eta_seconds == 0);
}

TEST_CASE("Bars and durations") {
  CHECK(progress_bar(5, 10, 10) == "[#####.....]  50%  5/10");
  CHECK(progress_bar(10, 10, 4) == "[####] 100%  10/10");
  CHECK(progress_bar(0, 0, 4) == "[....]    -  0/0");
  CHECK(progress_bar(12, 10, 4) == "[####] 100%  12/10");
  CHECK(format_duration(45) == "45s");
  CHECK(format_duration(725) == "12m 05s");
  CHECK(format_duration(3 * 3600 + 125) == "3h 02m");
}
