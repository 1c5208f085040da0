#include <catch2/catch.hpp>

#include "pacspull/pipeline/retry.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;
using namespace std::chrono_literals;

TEST_CASE("Failed moves back off exponentially up to the cap, then fail") {
  RetryPolicy p{4, 10s, 25s};
  core::Time now{};
  CHECK(after_attempt(p, 1, true, "", now).next == JobNext::Done);
  // The outbox's schedule: 1 s doubling, capped at 60 s, whatever the count.
  RetryPolicy outbox{0, core::Seconds(1), core::Seconds(60)};
  CHECK(backoff(outbox, 1) == 1s);
  CHECK(backoff(outbox, 4) == 8s);
  CHECK(backoff(outbox, 40) == 60s);
  auto a1 = after_attempt(p, 1, false, "timeout", now);
  CHECK(a1.next == JobNext::Retry);
  CHECK(a1.not_before - now == 10s);
  CHECK(after_attempt(p, 2, false, "timeout", now).not_before - now == 20s);
  CHECK(after_attempt(p, 3, false, "timeout", now).not_before - now == 25s);
  auto last = after_attempt(p, 4, false, "association rejected", now);
  CHECK(last.next == JobNext::Failed);
  CHECK(last.reason == "giving up after 4 attempts: association rejected");
}
