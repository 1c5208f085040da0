#pragma once
// Study states of the ledger. Names are the ones stored in the `studies.state` column.
#include <optional>
#include <string_view>

namespace pacspull::pipeline {

enum class StudyState { Found, Queued, Pulling, Received, Unsupported, Completed, Failed };

std::string_view to_string(StudyState s);
std::optional<StudyState> parse_state(std::string_view s);
// Terminal for this generation: nothing more happens unless the PACS count grows.
bool is_settled(StudyState s);

}  // namespace pacspull::pipeline
