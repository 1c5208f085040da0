#pragma once
// Finder decisions: what to do with a study a C-FIND poll returned.
//
// Field rule: pull only once the PACS is stable: when the instance count equals the
// previous poll's, pull at once. DX/CR (few images) are pulled as soon as found; if a
// view is missing, the next poll sees the count grow and pulls again. For PACS that
// give no counts, a fixed delay after first sight stands in for stability.
#include <optional>
#include <string>

#include "pacspull/core/time.hpp"
#include "pacspull/pipeline/state.hpp"

namespace pacspull::pipeline {

struct KnownStudy {
  StudyState state = StudyState::Found;
  std::optional<long> pacs_instances;  // count seen at the previous poll
  long received_instances = 0;         // what the ledger holds
  core::Time first_seen{};
};

struct Observation {
  std::optional<long> pacs_instances;  // NumberOfStudyRelatedInstances, if the PACS gives it
  bool pull_at_once = false;           // DX family: no stability wait
  core::Time now{};
};

struct StabilityPolicy {
  core::Seconds fixed_delay{0};  // used only when the PACS gives no count
};

enum class FindAction {
  Record,   // first sight: record, wait for the next poll
  Wait,     // count still changing (or no count and delay not over)
  Queue,    // stable: request a move (new generation)
  Nothing,  // already queued/pulling/done and nothing new at the PACS
  Regrow,   // settled study whose PACS count grew (late series): watch it again
};

struct FindDecision {
  FindAction action;
  std::string reason;
};

FindDecision on_found(const std::optional<KnownStudy>& known, const Observation& seen, const StabilityPolicy& policy);

}  // namespace pacspull::pipeline
