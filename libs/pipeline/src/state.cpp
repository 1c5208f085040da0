#include "pacspull/pipeline/state.hpp"

#include <array>
#include <utility>

namespace pacspull::pipeline {
namespace {
constexpr std::array<std::pair<StudyState, std::string_view>, 7> kNames{{
    {StudyState::Found, "found"},
    {StudyState::Queued, "queued"},
    {StudyState::Pulling, "pulling"},
    {StudyState::Received, "received"},
    {StudyState::Unsupported, "unsupported"},
    {StudyState::Completed, "completed"},
    {StudyState::Failed, "failed"},
}};
}  // namespace

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

bool is_settled(StudyState s) {
  return s == StudyState::Unsupported || s == StudyState::Completed || s == StudyState::Failed;
}

}  // namespace pacspull::pipeline
