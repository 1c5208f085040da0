#include <catch2/catch.hpp>

#include "pacspull/pipeline/completeness.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;
using namespace std::chrono_literals;

namespace {
const core::Time t0 = core::Time{} + 1000h;
CompletenessInput input(std::optional<long> pacs, long have, core::Seconds quiet, int repulls = 0) {
  return CompletenessInput{pacs, have, t0, repulls, false, t0 + quiet};
}
}  // namespace

TEST_CASE("Waits while images arrive or a move runs") {
  CompletenessPolicy p{30s, 3};
  CHECK(check_completeness(p, input(296, 296, 10s)).action == CheckAction::Wait);
  auto in = input(296, 296, 60s);
  in.move_in_flight = true;
  CHECK(check_completeness(p, in).action == CheckAction::Wait);
}

TEST_CASE("Equal counts after StableAge: received, in the words of the field log") {
  auto d = check_completeness({30s, 3}, input(296, 296, 30s));
  CHECK(d.action == CheckAction::Received);
  CHECK(d.reason == "series in pacs is 296, we have 296 too");
}

TEST_CASE("Short: re-pull while the budget lasts, then pass on marked short") {
  CompletenessPolicy p{30s, 2};
  CHECK(check_completeness(p, input(296, 295, 31s, 0)).action == CheckAction::Repull);
  CHECK(check_completeness(p, input(296, 295, 31s, 1)).action == CheckAction::Repull);
  CHECK(check_completeness(p, input(296, 295, 31s, 2)).action == CheckAction::ReceivedShort);
}

TEST_CASE("A PACS without counts: whatever arrived is the study") {
  CompletenessPolicy p{30s, 1};
  CHECK(check_completeness(p, input(std::nullopt, 5, 31s)).action == CheckAction::Received);
  CHECK(check_completeness(p, input(std::nullopt, 0, 31s, 0)).action == CheckAction::Repull);
  CHECK(check_completeness(p, input(std::nullopt, 0, 31s, 1)).action == CheckAction::ReceivedShort);
}
