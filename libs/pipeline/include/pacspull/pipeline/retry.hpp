#pragma once
// Retry schedules: exponential backoff (move jobs, outbox events), bounded attempts for moves.
#include <string>

#include "pacspull/core/time.hpp"

namespace pacspull::pipeline {

struct RetryPolicy {
  int max_attempts = 5;
  core::Seconds base{30};
  core::Seconds cap{300};
};

enum class JobNext { Done, Retry, Failed };

struct JobDecision {
  JobNext next;
  core::Time not_before{};
  std::string reason;
};

// The wait after the `attempts`-th failure (1 for the first): base, doubled per failure, capped.
core::Seconds backoff(const RetryPolicy& policy, int attempts);

// `attempts` counts the attempt that just finished (1 for the first).
JobDecision after_attempt(const RetryPolicy& policy, int attempts, bool success, const std::string& error,
                          core::Time now);

}  // namespace pacspull::pipeline
