#pragma once
// The study state machine (pipeline/state.hpp) as SQL parameters: a store's statement
// says `state = ANY($n::text[])` and `SET state = $m`, and passes from_states(t) and
// to_state(t); no state name is written in the SQL text.
#include <string>

#include "pacspull/pipeline/state.hpp"

namespace pacspull::ledger {

// A text[] literal of the names, e.g. "{queued,pulling}" (the names need no quoting).
inline std::string state_array(pipeline::StateSet set) {
  std::string out = "{";
  for (const auto& n : set.names()) out += (out.size() > 1 ? "," : "") + n;
  return out + "}";
}
inline std::string from_states(pipeline::Transition t) { return state_array(pipeline::legal_from(t)); }
inline std::string to_state(pipeline::Transition t) { return std::string(pipeline::to_string(pipeline::target_of(t))); }
inline std::string state_name(pipeline::StudyState s) { return std::string(pipeline::to_string(s)); }

}  // namespace pacspull::ledger
