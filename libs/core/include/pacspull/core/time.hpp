#pragma once
// Time is an input: pure logic takes `now` so it is tested without sleeping.
// StudyDate/StudyTime are the hospital's wall clock: read them with a TimeZone
// (pacspull/core/timezone.hpp), never as UTC.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace pacspull::core {

using Clock = std::chrono::system_clock;
using Time = Clock::time_point;
using Seconds = std::chrono::seconds;

// "YYYY-MM-DDTHH:MM:SSZ"
std::string format_iso(Time t);
// Parses format_iso's form back ("2026-03-14T16:30:00Z"); nullopt if malformed.
// For test hooks and operator input, never for DICOM values.
std::optional<Time> parse_iso(std::string_view text);

}  // namespace pacspull::core
