#include "pacspull/pipeline/retry.hpp"

#include <algorithm>

namespace pacspull::pipeline {

core::Seconds backoff(const RetryPolicy& policy, int attempts) {
  auto delay = policy.base;
  for (int i = 1; i < attempts && delay < policy.cap; ++i) delay *= 2;
  return std::min(delay, policy.cap);
}

JobDecision after_attempt(const RetryPolicy& policy, int attempts, bool success, const std::string& error,
                          core::Time now) {
  if (success) return {JobNext::Done, now, "move succeeded"};
  if (attempts >= policy.max_attempts)
    return {JobNext::Failed, now,
            "giving up after " + std::to_string(attempts) + " attempts: " + error};
  const auto delay = backoff(policy, attempts);
  return {JobNext::Retry, now + delay,
          "attempt " + std::to_string(attempts) + " failed (" + error + "), retry in " +
              std::to_string(delay.count()) + " s"};
}

}  // namespace pacspull::pipeline
