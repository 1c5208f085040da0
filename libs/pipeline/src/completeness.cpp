#include "pacspull/pipeline/completeness.hpp"

namespace pacspull::pipeline {

CheckDecision check_completeness(const CompletenessPolicy& policy, const CompletenessInput& in) {
  if (in.move_in_flight) return {CheckAction::Wait, "move in flight"};
  if (in.now - in.last_activity < policy.stable_age) return {CheckAction::Wait, "images still arriving"};
  const std::string have = std::to_string(in.received_instances);
  if (!in.pacs_instances) {
    if (in.received_instances > 0) return {CheckAction::Received, "PACS gave no count; we have " + have};
    if (in.repulls < policy.max_repulls) return {CheckAction::Repull, "nothing arrived and PACS gave no count"};
    return {CheckAction::ReceivedShort, "nothing arrived after " + std::to_string(in.repulls) + " re-pulls"};
  }
  const std::string pacs = std::to_string(*in.pacs_instances);
  if (in.received_instances >= *in.pacs_instances)
    return {CheckAction::Received, "series in pacs is " + pacs + ", we have " + have + " too"};
  if (in.repulls < policy.max_repulls)
    return {CheckAction::Repull, "pacs has " + pacs + ", we have " + have + ": re-pull " +
                                     std::to_string(in.repulls + 1) + " of " + std::to_string(policy.max_repulls)};
  return {CheckAction::ReceivedShort,
          "pacs has " + pacs + ", we have " + have + " after " + std::to_string(in.repulls) + " re-pulls: passing on"};
}

}  // namespace pacspull::pipeline
