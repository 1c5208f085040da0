#pragma once
// The study state machine: the states of the ledger's `studies.state` column and every
// legal transition between them, as one table. The ledger stores take the expected
// (from) states and the new state of each transition from here and pass them to SQL as
// parameters, so the SQL text holds no state names; `pullctl` and the gRPC enum convert
// through the names below (services/common/study_state_proto.hpp maps the proto enum).
//
// In short: found -> queued -> pulling -> received -> completed | unsupported, with the
// detours a hospital forces (re-pull, reopen on a late image, regrow when the PACS count
// grows, failure and operator retry, manual pull); `transitions()` lists them all.
//
// Pure: no I/O; thread-safe (constant tables).
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pacspull::pipeline {

enum class StudyState { Found, Queued, Pulling, Received, Unsupported, Completed, Failed };
inline constexpr int kStudyStateCount = 7;

// Every state, in pipeline order (found first).
std::span<const StudyState> all_states();

// The name stored in `studies.state`, used by pullctl (`--state pulling`) and in events.
std::string_view to_string(StudyState s);
std::optional<StudyState> parse_state(std::string_view s);

// Terminal for this generation: nothing more happens unless the PACS count grows, a new
// image arrives or an operator acts.
bool is_settled(StudyState s);

// A set of states (small bit set; constexpr so the transition table is a constant).
class StateSet {
 public:
  constexpr StateSet() = default;
  constexpr StateSet(std::initializer_list<StudyState> states) {
    for (StudyState s : states) bits_ |= bit(s);
  }
  static constexpr StateSet all() { return StateSet(static_cast<std::uint32_t>((1u << kStudyStateCount) - 1)); }
  constexpr bool contains(StudyState s) const { return (bits_ & bit(s)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr StateSet with(StudyState s) const { return StateSet(bits_ | bit(s)); }
  constexpr StateSet operator|(StateSet o) const { return StateSet(bits_ | o.bits_); }
  constexpr bool operator==(const StateSet&) const = default;
  // In pipeline order.
  std::vector<StudyState> states() const;
  // The names, e.g. {"queued", "pulling"}.
  std::vector<std::string> names() const;

 private:
  constexpr explicit StateSet(std::uint32_t bits) : bits_(bits) {}
  static constexpr std::uint32_t bit(StudyState s) { return 1u << static_cast<unsigned>(s); }
  std::uint32_t bits_ = 0;
};

// The settled states (unsupported, completed, failed).
StateSet settled_states();

// Every way a study's state changes, named by who does it and why.
enum class Transition {
  Discover,         // finder: a C-FIND answer names a study the ledger does not know
  Unsolicited,      // receiver: an image of a study nobody asked for (push, console move)
  Queue,            // finder: the found study is stable (or DX: at once); move requested
  Regrow,           // finder: the PACS count grew past what a received/settled study holds
  ManualPull,       // operator (`pullctl finder pull`): any study, at manual priority
  StartPull,        // mover: claims the study's move job
  MoveFailed,       // mover: the job failed for good and nothing was received
  OperatorRetry,    // operator (`pullctl mover retry`): a failed study's job again
  InstanceArrived,  // receiver: an image of a study being found, queued or pulled
  Reopen,           // receiver: a new image of a received or settled study
  CheckerReceived,  // checker: moves finished, quiet for StableAge, counts reconciled
  CheckerRepull,    // checker: short of the PACS count, re-pull (bounded)
  Complete,         // dispatcher: the last target's dispatch of the generation was sent
  SettleUnsupported,  // dispatcher: no target takes any series of the study
  SettleNothingNew,   // dispatcher: sent before, the new generation is not better
  FinderUnsupported,  // finder: stable, and no series can pass, every one judged on full
                      // information at series level (series_choice none_pass): not moved
};

struct TransitionRule {
  Transition transition;
  std::string_view name;   // "checker-repull"
  std::string_view actor;  // "checker": the service (or "operator") that makes it
  StateSet from;           // legal current states; empty: the study row is created
  StudyState to;
  bool new_generation;     // the study's generation is incremented
};

// The whole table, one row per Transition, in enum order.
std::span<const TransitionRule> transitions();
const TransitionRule& rule_of(Transition t);
std::string_view to_string(Transition t);
std::optional<Transition> parse_transition(std::string_view name);

StateSet legal_from(Transition t);
StudyState target_of(Transition t);
// Whether `t` may happen to a study in `from` (creating transitions never apply to an
// existing study).
bool is_legal(Transition t, StudyState from);
// Whether some transition leads from `from` to `to`.
bool can_move(StudyState from, StudyState to);
// Every state reachable from `start` by legal transitions (start included).
StateSet reachable_from(StudyState start);

}  // namespace pacspull::pipeline
