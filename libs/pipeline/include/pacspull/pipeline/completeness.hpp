#pragma once
// Completeness checker decisions. A study is received when no instance arrived for
// StableAge; then our count is compared with the PACS's. Fewer means re-pull; after
// max re-pulls it is passed on anyway, marked short (field notes: pass it on anyway).
// "Images must be contiguous" is deliberately not a rule: when our count equals the
// PACS count, gaps are in the PACS itself.
#include <optional>
#include <string>

#include "pacspull/core/time.hpp"

namespace pacspull::pipeline {

struct CompletenessPolicy {
  core::Seconds stable_age{30};
  int max_repulls = 3;
};

struct CompletenessInput {
  std::optional<long> pacs_instances;
  long received_instances = 0;
  core::Time last_activity{};  // last instance received, or the end of the last move
  int repulls = 0;
  bool move_in_flight = false;
  core::Time now{};
};

enum class CheckAction { Wait, Received, Repull, ReceivedShort };

struct CheckDecision {
  CheckAction action;
  std::string reason;
};

CheckDecision check_completeness(const CompletenessPolicy& policy, const CompletenessInput& in);

}  // namespace pacspull::pipeline
