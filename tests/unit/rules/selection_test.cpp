// Which series of a study to hand on, and when a late series replaces a dispatched one.
#include <catch2/catch.hpp>

#include "pacspull/rules/rules.hpp"

using namespace pacspull::rules;
using pacspull::core::SeriesUid;

namespace {
SeriesCandidate ct(const char* uid, std::optional<double> t, long count, const char* kernel = "", long number = 1,
                   bool passed = true) {
  return SeriesCandidate{SeriesUid(uid), Family::Ct, passed, t, count, kernel, "", number};
}
SeriesCandidate dx(const char* uid, bool passed, long number) {
  return SeriesCandidate{SeriesUid(uid), Family::Dx, passed, std::nullopt, 1, "", "", number};
}
}  // namespace

TEST_CASE("CT: the thinnest qualifying series") {
  const RuleSet rs;
  auto sel = select_series(rs, {ct("1.5", 5.0, 60, "", 2), ct("1.3", 1.25, 280, "", 3), ct("1.4", 0.625, 560, "", 4),
                                ct("1.9", 0.5, 700, "", 9, /*passed=*/false)});
  REQUIRE(sel.series.size() == 1);
  CHECK(sel.series[0].str() == "1.4");
  CHECK_FALSE(sel.whole_study);
  CHECK(sel.reason.find("thinnest series chosen: series 4 (0.625 mm, 560 instances)") == 0);
  CHECK(sel.reason.find("of 3 qualifying") != std::string::npos);
}

TEST_CASE("CT: unknown thickness is estimated from the instance count") {
  const RuleSet rs;
  auto sel = select_series(rs, {ct("a", 2.0, 150, "", 2), ct("b", std::nullopt, 600, "", 3)});  // 300/600 = 0.5 mm
  REQUIRE(sel.series.size() == 1);
  CHECK(sel.series[0].str() == "b");
}

TEST_CASE("CT ties: kernel preference, then instance count, then series number") {
  RuleSet rs;
  SECTION("no preference: more instances wins") {
    auto sel = select_series(rs, {ct("a", 1.0, 300, "B30f", 2), ct("b", 1.0, 310, "B70f", 3)});
    CHECK(sel.series[0].str() == "b");
    CHECK(sel.reason.find("broken by instance count 310 > 300") != std::string::npos);
  }
  SECTION("lung preference breaks the tie") {
    rs.ct.kernel.prefer = KernelWindow::Lung;
    auto sel = select_series(rs, {ct("a", 1.0, 310, "B30f", 2), ct("b", 1.0, 300, "B70f", 3)});
    CHECK(sel.series[0].str() == "b");
    CHECK(sel.reason.find("broken by kernel preference lung") != std::string::npos);
  }
  SECTION("mediastinal preference") {
    rs.ct.kernel.prefer = KernelWindow::Mediastinal;
    auto sel = select_series(rs, {ct("a", 1.0, 300, "B30f", 2), ct("b", 1.0, 300, "B70f", 3)});
    CHECK(sel.series[0].str() == "a");
  }
  SECTION("preference does not beat thickness unless over_thickness") {
    rs.ct.kernel.prefer = KernelWindow::Lung;
    auto sel = select_series(rs, {ct("thin-soft", 1.0, 300, "B30f", 2), ct("thick-lung", 2.0, 150, "B70f", 3)});
    CHECK(sel.series[0].str() == "thin-soft");
    rs.ct.kernel.over_thickness = true;
    sel = select_series(rs, {ct("thin-soft", 1.0, 300, "B30f", 2), ct("thick-lung", 2.0, 150, "B70f", 3)});
    CHECK(sel.series[0].str() == "thick-lung");
    CHECK(sel.reason.find("kernel preference lung ranks before thickness") != std::string::npos);
  }
  SECTION("full tie: lower series number") {
    auto sel = select_series(rs, {ct("z", 1.0, 300, "", 7), ct("y", 1.0, 300, "", 5)});
    CHECK(sel.series[0].str() == "y");
    CHECK(sel.reason.find("broken by lower series number") != std::string::npos);
  }
  SECTION("order of candidates does not matter") {
    auto a = select_series(rs, {ct("p", 1.0, 300, "", 1), ct("q", 1.0, 300, "", 1)});
    auto b = select_series(rs, {ct("q", 1.0, 300, "", 1), ct("p", 1.0, 300, "", 1)});
    CHECK(a.series == b.series);
  }
}

TEST_CASE("DX/CR: the whole study") {
  const RuleSet rs;
  // Frontal passed; the lateral view's attributes were poor, it still goes (only the algorithm can tell).
  auto sel = select_series(rs, {dx("frontal", true, 1), dx("lateral", false, 2)});
  CHECK(sel.whole_study);
  CHECK(sel.series.size() == 2);
  CHECK(sel.reason == "DX study: whole study handed on (2 series)");
}

TEST_CASE("nothing qualified: study is filtered out") {
  const RuleSet rs;
  auto sel = select_series(rs, {ct("a", 8.0, 40, "", 1, false), dx("b", false, 2)});
  CHECK(sel.series.empty());
  CHECK(sel.reason == "study is filtered out");
  CHECK(select_series(rs, {}).reason == "study is filtered out");
}

TEST_CASE("is_better: a later series replaces the dispatched one only when thinner") {
  RuleSet rs;
  std::string why;
  auto dispatched = ct("d", 5.0, 60, "B30f", 2);
  CHECK(is_better(rs, dispatched, ct("l", 1.0, 300, "B30f", 5), &why));
  CHECK(why.find("re-inform because a thinner series arrived") == 0);
  CHECK_FALSE(is_better(rs, dispatched, ct("l", 5.0, 61, "B30f", 5), &why));
  CHECK(why.find("not re-informing") == 0);
  CHECK_FALSE(is_better(rs, dispatched, ct("l", 8.0, 40, "B30f", 5), &why));
  CHECK_FALSE(is_better(rs, dispatched, ct("l", 0.5, 600, "B30f", 5, /*passed=*/false), &why));
  CHECK_FALSE(is_better(rs, dispatched, dispatched, &why));
  CHECK_FALSE(is_better(rs, dx("a", true, 1), dx("b", true, 2), &why));
  CHECK(why.find("DX studies are handed on whole") != std::string::npos);

  SECTION("site preference: preferred kernel at equal thickness") {
    rs.ct.kernel.prefer = KernelWindow::Lung;
    CHECK(is_better(rs, dispatched, ct("l", 5.0, 60, "B70f", 5), &why));
    CHECK(why.find("preferred lung kernel at equal thickness") != std::string::npos);
    CHECK_FALSE(is_better(rs, dispatched, ct("l", 8.0, 40, "B70f", 5), &why));
  }
  SECTION("site preference over thickness") {
    rs.ct.kernel.prefer = KernelWindow::Lung;
    rs.ct.kernel.over_thickness = true;
    CHECK(is_better(rs, ct("d", 1.0, 300, "B30f", 2), ct("l", 2.0, 150, "B70f", 5), &why));
    CHECK_FALSE(is_better(rs, ct("d", 2.0, 150, "B70f", 2), ct("l", 1.0, 300, "B30f", 5), &why));
  }
  CHECK(is_better(rs, dispatched, ct("l", 1.0, 300), nullptr));  // why is optional
}
