#include "pacspull/pipeline/query_window.hpp"

namespace pacspull::pipeline {

DateWindow query_window(core::Time now, const core::TimeZone& zone, int crossday) {
  using namespace std::chrono;
  core::CivilTime today = zone.to_local(now);
  sys_days day0{year{today.year} / month{today.month} / day{today.day}};
  year_month_day first{day0 + days{crossday < 0 ? crossday : 0}};
  core::CivilTime from{static_cast<int>(first.year()), static_cast<unsigned>(first.month()),
                       static_cast<unsigned>(first.day())};
  return DateWindow{core::format_dicom_date(from), core::format_dicom_date(today)};
}

}  // namespace pacspull::pipeline
