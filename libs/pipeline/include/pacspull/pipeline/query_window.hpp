#pragma once
// The StudyDate window the finder queries. StudyDate is the hospital's wall clock, so the
// window is made of *local* dates in the site's zone: at 00:30 in Shanghai (16:30 UTC the
// day before) "today" is already the new day. `crossday` (<= 0) widens it into the past
// for devices whose clock is hours behind (they stamp tonight's exams with yesterday).
#include <string>

#include "pacspull/core/time.hpp"
#include "pacspull/core/timezone.hpp"

namespace pacspull::pipeline {

struct DateWindow {
  std::string from, to;  // "YYYYMMDD", local dates, from <= to
  // The C-FIND StudyDate matching value: "to" alone, or the range "from-to".
  std::string dicom_range() const { return from == to ? to : from + "-" + to; }
  bool operator==(const DateWindow&) const = default;
};

// Local today + crossday .. local today at `now` in `zone` (calendar days, so DST days
// of 23 or 25 hours change nothing).
DateWindow query_window(core::Time now, const core::TimeZone& zone, int crossday);

}  // namespace pacspull::pipeline
