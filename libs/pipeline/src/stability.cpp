#include "pacspull/pipeline/stability.hpp"

namespace pacspull::pipeline {
namespace {
std::string count_text(const std::optional<long>& c) { return c ? std::to_string(*c) : std::string("?"); }
}  // namespace

FindDecision on_found(const std::optional<KnownStudy>& known, const Observation& seen, const StabilityPolicy& policy) {
  if (!known) {
    if (seen.pull_at_once) return {FindAction::Queue, "new study, DX family: pull at once"};
    return {FindAction::Record, "new study with " + count_text(seen.pacs_instances) + " instances"};
  }
  const KnownStudy& k = *known;
  switch (k.state) {
    case StudyState::Found: {
      if (!seen.pacs_instances) {
        if (seen.now - k.first_seen >= policy.fixed_delay)
          return {FindAction::Queue, "no instance count from PACS; fixed delay over"};
        return {FindAction::Wait, "no instance count from PACS; waiting fixed delay"};
      }
      if (seen.pull_at_once) return {FindAction::Queue, "DX family: pull at once"};
      if (k.pacs_instances && *k.pacs_instances == *seen.pacs_instances)
        return {FindAction::Queue, "study stable with " + std::to_string(*seen.pacs_instances) + " instances"};
      return {FindAction::Wait,
              "count changed " + count_text(k.pacs_instances) + " -> " + std::to_string(*seen.pacs_instances)};
    }
    case StudyState::Queued:
    case StudyState::Pulling:
      return {FindAction::Nothing, "already " + std::string(to_string(k.state))};
    case StudyState::Received:
    case StudyState::Unsupported:
    case StudyState::Completed:
    case StudyState::Failed: {
      if (seen.pacs_instances && *seen.pacs_instances > k.received_instances &&
          (!k.pacs_instances || *seen.pacs_instances != *k.pacs_instances))
        return {FindAction::Regrow, "PACS count grew to " + std::to_string(*seen.pacs_instances) + ", we have " +
                                        std::to_string(k.received_instances)};
      return {FindAction::Nothing, "nothing new at the PACS"};
    }
  }
  return {FindAction::Nothing, "unknown state"};
}

}  // namespace pacspull::pipeline
