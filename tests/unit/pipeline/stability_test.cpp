#include <catch2/catch.hpp>

#include "pacspull/pipeline/stability.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;
using namespace std::chrono_literals;

namespace {
const core::Time t0 = core::Time{} + 1000h;
KnownStudy known(StudyState s, std::optional<long> count, long received = 0) {
  return KnownStudy{s, count, received, t0};
}
}  // namespace

TEST_CASE("A new CT study is recorded and waits for a second poll") {
  auto d = on_found(std::nullopt, {12, false, t0}, {});
  CHECK(d.action == FindAction::Record);
  CHECK(d.reason == "new study with 12 instances");
}

TEST_CASE("A new DX study is pulled at once") {
  CHECK(on_found(std::nullopt, {2, true, t0}, {}).action == FindAction::Queue);
}

TEST_CASE("Stable when the count equals the previous poll's; waits while it grows") {
  CHECK(on_found(known(StudyState::Found, 12), {12, false, t0 + 30s}, {}).action == FindAction::Queue);
  auto grow = on_found(known(StudyState::Found, 12), {30, false, t0 + 30s}, {});
  CHECK(grow.action == FindAction::Wait);
  CHECK(grow.reason == "count changed 12 -> 30");
}

TEST_CASE("No count from the PACS falls back to the fixed delay") {
  StabilityPolicy p{120s};
  CHECK(on_found(known(StudyState::Found, std::nullopt), {std::nullopt, false, t0 + 60s}, p).action == FindAction::Wait);
  CHECK(on_found(known(StudyState::Found, std::nullopt), {std::nullopt, false, t0 + 120s}, p).action == FindAction::Queue);
}

TEST_CASE("Queued or pulling studies are left alone") {
  CHECK(on_found(known(StudyState::Pulling, 12), {14, false, t0}, {}).action == FindAction::Nothing);
  CHECK(on_found(known(StudyState::Queued, 12), {12, false, t0}, {}).action == FindAction::Nothing);
}

TEST_CASE("A settled study whose PACS count grew is watched again (late series)") {
  auto d = on_found(known(StudyState::Completed, 40, 40), {60, false, t0}, {});
  CHECK(d.action == FindAction::Regrow);
  CHECK(on_found(known(StudyState::Completed, 40, 40), {40, false, t0}, {}).action == FindAction::Nothing);
  // A count that stays above what we hold after we passed it on short does not loop.
  CHECK(on_found(known(StudyState::Completed, 60, 58), {60, false, t0}, {}).action == FindAction::Nothing);
}
