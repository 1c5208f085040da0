// The study state machine (pipeline/state.hpp): the one table of states and transitions.
#include <catch2/catch.hpp>

#include <set>

#include "pacspull/pipeline/state.hpp"

using namespace pacspull::pipeline;
using S = StudyState;
using T = Transition;

TEST_CASE("State names round-trip and unknown names are refused") {
  CHECK(all_states().size() == static_cast<size_t>(kStudyStateCount));
  std::set<std::string_view> names;
  for (StudyState s : all_states()) {
    const auto name = to_string(s);
    CHECK(parse_state(name) == s);
    names.insert(name);
  }
  CHECK(names.size() == all_states().size());  // no two states share a name
  CHECK(to_string(S::Pulling) == "pulling");
  CHECK_FALSE(parse_state("PULLING"));
  CHECK_FALSE(parse_state(""));
  CHECK_FALSE(parse_state("done"));
}

TEST_CASE("Settled states are unsupported, completed and failed") {
  CHECK(settled_states() == StateSet{S::Unsupported, S::Completed, S::Failed});
  for (StudyState s : all_states()) CHECK(is_settled(s) == settled_states().contains(s));
  CHECK(settled_states().names() == std::vector<std::string>{"unsupported", "completed", "failed"});
}

TEST_CASE("Every legal transition is accepted, with its target state") {
  // The table as the issue lists it: from-states -> to-state per event.
  struct Row {
    T t;
    StateSet from;
    S to;
    bool new_generation;
  };
  const StateSet pulled{S::Received, S::Unsupported, S::Completed, S::Failed};
  const std::vector<Row> expected{
      {T::Discover, {}, S::Found, false},
      {T::Unsolicited, {}, S::Pulling, false},
      {T::Queue, {S::Found}, S::Queued, true},
      {T::Regrow, pulled, S::Found, false},
      {T::ManualPull, StateSet::all(), S::Queued, true},
      {T::StartPull, {S::Found, S::Queued}, S::Pulling, false},
      {T::MoveFailed, {S::Queued, S::Pulling}, S::Failed, false},
      {T::OperatorRetry, {S::Failed}, S::Queued, false},
      {T::InstanceArrived, {S::Found, S::Queued, S::Pulling}, S::Pulling, false},
      {T::Reopen, pulled, S::Pulling, true},
      {T::CheckerReceived, {S::Pulling}, S::Received, false},
      {T::CheckerRepull, {S::Pulling}, S::Queued, true},
      {T::Complete, {S::Received}, S::Completed, false},
      {T::SettleUnsupported, {S::Received}, S::Unsupported, false},
      {T::SettleNothingNew, {S::Received}, S::Completed, false},
      // Issue 9 part 3: a stable study no series of which can pass (judged on full
      // information at series level) is settled by the finder without a move.
      {T::FinderUnsupported, {S::Found}, S::Unsupported, true},
  };
  REQUIRE(transitions().size() == expected.size());
  for (const auto& row : expected) {
    INFO(to_string(row.t));
    CHECK(legal_from(row.t) == row.from);
    CHECK(target_of(row.t) == row.to);
    CHECK(rule_of(row.t).new_generation == row.new_generation);
    for (StudyState s : row.from.states()) {
      CHECK(is_legal(row.t, s));
      CHECK(can_move(s, row.to));
    }
  }
}

TEST_CASE("Illegal transitions are refused") {
  CHECK_FALSE(is_legal(T::Complete, S::Pulling));        // not received yet
  CHECK_FALSE(is_legal(T::Complete, S::Completed));      // twice
  CHECK_FALSE(is_legal(T::CheckerReceived, S::Queued));  // the mover has not started
  CHECK_FALSE(is_legal(T::CheckerRepull, S::Received));  // already declared received
  CHECK_FALSE(is_legal(T::StartPull, S::Pulling));       // already pulling
  CHECK_FALSE(is_legal(T::StartPull, S::Failed));        // needs an operator retry first
  CHECK_FALSE(is_legal(T::MoveFailed, S::Received));     // images arrived: the checker decides
  CHECK_FALSE(is_legal(T::OperatorRetry, S::Completed)); // only a failed study is retried
  CHECK_FALSE(is_legal(T::Queue, S::Queued));
  CHECK_FALSE(is_legal(T::Regrow, S::Pulling));
  CHECK_FALSE(is_legal(T::Reopen, S::Pulling));          // same generation: InstanceArrived
  CHECK_FALSE(is_legal(T::InstanceArrived, S::Completed)); // settled: Reopen
  CHECK_FALSE(is_legal(T::SettleUnsupported, S::Found));
  CHECK_FALSE(is_legal(T::FinderUnsupported, S::Queued));    // the move was already requested
  CHECK_FALSE(is_legal(T::FinderUnsupported, S::Pulling));   // images arriving: the filter decides
  CHECK_FALSE(is_legal(T::FinderUnsupported, S::Received));
  CHECK_FALSE(is_legal(T::FinderUnsupported, S::Completed));
  // Creating transitions never apply to an existing study.
  for (StudyState s : all_states()) {
    CHECK_FALSE(is_legal(T::Discover, s));
    CHECK_FALSE(is_legal(T::Unsolicited, s));
  }
  // Moves no transition makes.
  CHECK_FALSE(can_move(S::Found, S::Received));
  CHECK_FALSE(can_move(S::Found, S::Completed));
  CHECK_FALSE(can_move(S::Pulling, S::Completed));
  CHECK_FALSE(can_move(S::Queued, S::Received));
  CHECK_FALSE(can_move(S::Failed, S::Completed));
  CHECK_FALSE(can_move(S::Unsupported, S::Completed));
}

TEST_CASE("Every state is reachable from found, and no state is a trap") {
  CHECK(reachable_from(S::Found) == StateSet::all());
  // A manual pull leaves any state: an operator can always start a study again.
  for (StudyState s : all_states()) {
    INFO(to_string(s));
    CHECK(reachable_from(s) == StateSet::all());
  }
  // Without the operator, a failed study only comes back when the PACS or a sender acts.
  CHECK(can_move(S::Failed, S::Found));    // regrow
  CHECK(can_move(S::Failed, S::Pulling));  // reopen by a new image
}

TEST_CASE("The receiver's two transitions lead to the same state and split the states between them") {
  CHECK(target_of(T::Reopen) == target_of(T::InstanceArrived));
  CHECK((legal_from(T::Reopen) | legal_from(T::InstanceArrived)) == StateSet::all());
  for (StudyState s : all_states()) CHECK(is_legal(T::Reopen, s) != is_legal(T::InstanceArrived, s));
}

TEST_CASE("Transition names round-trip") {
  std::set<std::string_view> names;
  for (const auto& r : transitions()) {
    CHECK(parse_transition(r.name) == r.transition);
    CHECK(to_string(r.transition) == r.name);
    CHECK_FALSE(r.actor.empty());
    names.insert(r.name);
  }
  CHECK(names.size() == transitions().size());
  CHECK(parse_transition("checker-repull") == T::CheckerRepull);
  CHECK_FALSE(parse_transition("teleport"));
}
