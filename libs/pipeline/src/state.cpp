#include "pacspull/pipeline/state.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace pacspull::pipeline {
namespace {

using S = StudyState;
using T = Transition;

constexpr std::array<std::pair<StudyState, std::string_view>, kStudyStateCount> kNames{{
    {S::Found, "found"},
    {S::Queued, "queued"},
    {S::Pulling, "pulling"},
    {S::Received, "received"},
    {S::Unsupported, "unsupported"},
    {S::Completed, "completed"},
    {S::Failed, "failed"},
}};

constexpr std::array<StudyState, kStudyStateCount> kAll{S::Found,       S::Queued,    S::Pulling, S::Received,
                                                        S::Unsupported, S::Completed, S::Failed};

constexpr StateSet kSettled{S::Unsupported, S::Completed, S::Failed};
// Received or settled: a study whose pull is over for this generation.
constexpr StateSet kPulled{S::Received, S::Unsupported, S::Completed, S::Failed};

// The one table. Each row: the transition, its name, who makes it, the legal current
// states (empty: the row is created), the new state, whether a new generation starts.
constexpr std::array<TransitionRule, 16> kTable{{
    {T::Discover, "discover", "finder", {}, S::Found, false},
    {T::Unsolicited, "unsolicited", "receiver", {}, S::Pulling, false},
    {T::Queue, "queue", "finder", {S::Found}, S::Queued, true},
    {T::Regrow, "regrow", "finder", kPulled, S::Found, false},
    {T::ManualPull, "manual-pull", "operator", StateSet::all(), S::Queued, true},
    {T::StartPull, "start-pull", "mover", {S::Found, S::Queued}, S::Pulling, false},
    {T::MoveFailed, "move-failed", "mover", {S::Queued, S::Pulling}, S::Failed, false},
    {T::OperatorRetry, "operator-retry", "operator", {S::Failed}, S::Queued, false},
    {T::InstanceArrived, "instance-arrived", "receiver", {S::Found, S::Queued, S::Pulling}, S::Pulling, false},
    {T::Reopen, "reopen", "receiver", kPulled, S::Pulling, true},
    {T::CheckerReceived, "checker-received", "checker", {S::Pulling}, S::Received, false},
    {T::CheckerRepull, "checker-repull", "checker", {S::Pulling}, S::Queued, true},
    {T::Complete, "complete", "dispatcher", {S::Received}, S::Completed, false},
    {T::SettleUnsupported, "settle-unsupported", "dispatcher", {S::Received}, S::Unsupported, false},
    {T::SettleNothingNew, "settle-nothing-new", "dispatcher", {S::Received}, S::Completed, false},
    // Like Queue, the decision of a new generation; a study that grows later regrows.
    {T::FinderUnsupported, "finder-unsupported", "finder", {S::Found}, S::Unsupported, true},
}};

// The table is indexed by the enum: a row out of place is a compile error.
constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kTable.size(); ++i)
    if (static_cast<size_t>(kTable[i].transition) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "kTable rows must follow the Transition enum order");
static_assert(kTable.back().transition == T::FinderUnsupported, "a Transition without a row");

}  // namespace

std::span<const StudyState> all_states() { return kAll; }

std::string_view to_string(StudyState s) {
  for (const auto& [state, name] : kNames)
    if (state == s) return name;
  return "unknown";
}

std::optional<StudyState> parse_state(std::string_view s) {
  for (const auto& [state, name] : kNames)
    if (name == s) return state;
  return std::nullopt;
}

bool is_settled(StudyState s) { return kSettled.contains(s); }

StateSet settled_states() { return kSettled; }

std::vector<StudyState> StateSet::states() const {
  std::vector<StudyState> out;
  for (StudyState s : kAll)
    if (contains(s)) out.push_back(s);
  return out;
}

std::vector<std::string> StateSet::names() const {
  std::vector<std::string> out;
  for (StudyState s : states()) out.emplace_back(to_string(s));
  return out;
}

std::span<const TransitionRule> transitions() { return kTable; }

const TransitionRule& rule_of(Transition t) { return kTable.at(static_cast<size_t>(t)); }

std::string_view to_string(Transition t) { return rule_of(t).name; }

std::optional<Transition> parse_transition(std::string_view name) {
  for (const auto& r : kTable)
    if (r.name == name) return r.transition;
  return std::nullopt;
}

StateSet legal_from(Transition t) { return rule_of(t).from; }

StudyState target_of(Transition t) { return rule_of(t).to; }

bool is_legal(Transition t, StudyState from) { return rule_of(t).from.contains(from); }

bool can_move(StudyState from, StudyState to) {
  for (const auto& r : kTable)
    if (r.to == to && r.from.contains(from)) return true;
  return false;
}

StateSet reachable_from(StudyState start) {
  std::vector<StudyState> seen{start};
  for (size_t i = 0; i < seen.size(); ++i)
    for (const auto& r : kTable)
      if (r.from.contains(seen[i]) && std::find(seen.begin(), seen.end(), r.to) == seen.end()) seen.push_back(r.to);
  StateSet out;
  for (StudyState s : seen) out = out.with(s);
  return out;
}

}  // namespace pacspull::pipeline
