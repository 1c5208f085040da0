// The dispatch decision per study generation and target: what is sent, what a late series
// changes (re-inform only when better), and which targets take which families.
#include <catch2/catch.hpp>

#include "pacspull/pipeline/dispatch_plan.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;
using rules::Family;
using rules::SeriesCandidate;

namespace {
SeriesCandidate ct(const char* uid, double thickness, long count, long number, bool passed = true) {
  return SeriesCandidate{core::SeriesUid(uid), Family::Ct, passed, thickness, count, "", "", number};
}
SeriesCandidate dx(const char* uid, long number, bool passed = true) {
  return SeriesCandidate{core::SeriesUid(uid), Family::Dx, passed, std::nullopt, 1, "", "", number};
}
}  // namespace

TEST_CASE("First dispatch: CT sends the thinnest qualifying series, DX the whole study") {
  const rules::RuleSet rs;
  auto p = plan_dispatch(rs, {ct("thick", 5.0, 60, 2), ct("thin", 1.0, 300, 3)}, {});
  CHECK(p.kind == DispatchPlan::Kind::Send);
  CHECK(p.series == std::vector<std::string>{"thin"});
  auto d = plan_dispatch(rs, {dx("frontal", 1), dx("lateral", 2)}, {});
  CHECK(d.kind == DispatchPlan::Kind::Send);
  CHECK(d.series.size() == 2);
}

TEST_CASE("Nothing qualifies: unsupported the first time, not better after a dispatch") {
  const rules::RuleSet rs;
  auto p = plan_dispatch(rs, {ct("a", 5.0, 60, 1, false)}, {});
  CHECK(p.kind == DispatchPlan::Kind::Unsupported);
  CHECK(p.reason.rfind("study is filtered out", 0) == 0);
  auto again = plan_dispatch(rs, {ct("a", 5.0, 60, 1, false)}, {"old"}, 100);
  CHECK(again.kind == DispatchPlan::Kind::NotBetter);
}

TEST_CASE("Late series: a thinner one re-informs, a thicker one does not, the same one only when it grew") {
  const rules::RuleSet rs;
  // Dispatched "mid" (2 mm); a 1 mm series arrives later.
  auto thinner = plan_dispatch(rs, {ct("mid", 2.0, 150, 2), ct("thin", 1.0, 300, 3)}, {"mid"}, 150);
  CHECK(thinner.kind == DispatchPlan::Kind::Send);
  CHECK(thinner.series == std::vector<std::string>{"thin"});
  CHECK(thinner.reason.find("re-informing") != std::string::npos);
  // Dispatched "mid"; a 5 mm series arrives later: the selection stays "mid", nothing new.
  auto thicker = plan_dispatch(rs, {ct("mid", 2.0, 150, 2), ct("thick", 5.0, 60, 3)}, {"mid"}, 150);
  CHECK(thicker.kind == DispatchPlan::Kind::NotBetter);
  CHECK(thicker.reason == "not re-informing because nothing new");
  auto grew = plan_dispatch(rs, {ct("mid", 2.0, 160, 2)}, {"mid"}, 150);
  CHECK(grew.kind == DispatchPlan::Kind::Send);
  CHECK(grew.reason.find("grew from 150 to 160") != std::string::npos);
}

TEST_CASE("Targets take their families; the study settles by what all targets decided") {
  const rules::RuleSet rs;
  const std::vector<SeriesCandidate> mixed{ct("c", 1.0, 300, 1), dx("d", 2)};
  CHECK(candidates_for_target(mixed, {}).size() == 2);
  auto ct_only = candidates_for_target(mixed, {"CT"});
  REQUIRE(ct_only.size() == 1);
  CHECK(ct_only[0].uid.str() == "c");
  CHECK(candidates_for_target(mixed, {"DX"})[0].uid.str() == "d");
  CHECK(candidates_for_target({ct("c", 1.0, 300, 1)}, {"DX"}).empty());

  DispatchPlan send{DispatchPlan::Kind::Send, {"c"}, ""};
  DispatchPlan unsupported{DispatchPlan::Kind::Unsupported, {}, ""};
  DispatchPlan not_better{DispatchPlan::Kind::NotBetter, {}, ""};
  CHECK(settle_of({unsupported, send}) == Settle::Queue);
  CHECK(settle_of({unsupported, unsupported}) == Settle::Unsupported);
  CHECK(settle_of({unsupported, not_better}) == Settle::Completed);
  CHECK(settle_of({}) == Settle::Unsupported);
  // A CT study for a DX-only target is unsupported there (nothing of its families).
  auto dx_target = plan_dispatch(rs, candidates_for_target({ct("c", 1.0, 300, 1)}, {"DX"}), {});
  CHECK(dx_target.kind == DispatchPlan::Kind::Unsupported);
}

TEST_CASE("DX: a new image series re-informs with the whole study, the same study again does not") {
  const rules::RuleSet rs;
  auto first = plan_dispatch(rs, {dx("frontal", 1)}, {});
  REQUIRE(first.kind == DispatchPlan::Kind::Send);
  // A lateral view arrives after the frontal was dispatched: the whole study again.
  auto late = plan_dispatch(rs, {dx("frontal", 1), dx("lateral", 2)}, {"frontal"}, 1);
  CHECK(late.kind == DispatchPlan::Kind::Send);
  CHECK(late.series.size() == 2);
  CHECK(late.reason.find("new series") != std::string::npos);
  // Nothing new (same series, same count): not re-informed.
  auto same = plan_dispatch(rs, {dx("frontal", 1), dx("lateral", 2)}, {"lateral", "frontal"}, 2);
  CHECK(same.kind == DispatchPlan::Kind::NotBetter);
  // DX hands on every DX-family series, passed or not (only the algorithm tells the views
  // apart): a late series that failed the rules is still part of the whole study.
  auto failed = plan_dispatch(rs, {dx("frontal", 1), dx("view2", 2, false)}, {"frontal"}, 1);
  CHECK(failed.kind == DispatchPlan::Kind::Send);
  CHECK(failed.series.size() == 2);
}
