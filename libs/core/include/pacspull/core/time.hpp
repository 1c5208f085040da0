#pragma once
// Time is an input: pure logic takes `now` so it is tested without sleeping.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace pacspull::core {

using Clock = std::chrono::system_clock;
using Time = Clock::time_point;
using Seconds = std::chrono::seconds;

// DICOM DA ("20240131") plus optional TM ("083015.123") in UTC-agnostic local terms
// -> time_point. Returns nullopt on a malformed date; a malformed time counts as 00:00.
std::optional<Time> parse_dicom_datetime(std::string_view da, std::string_view tm);
// time_point -> "YYYYMMDD" (UTC).
std::string format_dicom_date(Time t);
// "YYYY-MM-DDTHH:MM:SSZ"
std::string format_iso(Time t);

}  // namespace pacspull::core
