#pragma once
// The dispatch decision for one study generation. CT hands on one computed series, DX
// the whole study (the rules' selection). A study that comes round again (a late
// series, a re-pull) is re-dispatched only when the new selection is better: "re-inform
// because a thinner series arrived" / "not re-informing because nothing new".
#include <string>
#include <vector>

#include "pacspull/rules/rules.hpp"

namespace pacspull::pipeline {

struct DispatchPlan {
  enum class Kind { Send, Unsupported, NotBetter } kind = Kind::Unsupported;
  std::vector<std::string> series;
  std::string reason;
};

// `previously_sent`: the series of the last dispatch of this study ({} if none), and
// how many instances it sent.
DispatchPlan plan_dispatch(const rules::RuleSet& rs, const std::vector<rules::SeriesCandidate>& candidates,
                           const std::vector<std::string>& previously_sent, long previously_sent_instances = 0);

// The candidates a target takes: those of its rule families ("CT", "DX"); no families
// takes every candidate.
std::vector<rules::SeriesCandidate> candidates_for_target(const std::vector<rules::SeriesCandidate>& candidates,
                                                          const std::vector<std::string>& families);

// What a study generation becomes when no target has anything to send: unsupported when
// no target ever took it, completed when some target was sent it before (not better now).
enum class Settle { Queue, Completed, Unsupported };
Settle settle_of(const std::vector<DispatchPlan>& plans);

}  // namespace pacspull::pipeline
