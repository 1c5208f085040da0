// The finder's StudyDate window is made of local dates: at 00:30 at a UTC+8 hospital the
// night's studies are in it at once, not from 08:00 on. Zones come from their POSIX rules
// here (pure: no file); tests/unit/core checks the same offsets from the tzdata files.
#include <catch2/catch.hpp>

#include "pacspull/core/timezone.hpp"
#include "pacspull/pipeline/query_window.hpp"

using namespace pacspull;
using namespace std::chrono;

namespace {
core::Time utc(int y, unsigned mo, unsigned d, int h, int mi = 0) {
  return core::Time(sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi));
}
const core::TimeZone shanghai = core::TimeZone::from_posix("Asia/Shanghai", "CST-8");
const core::TimeZone moscow = core::TimeZone::from_posix("Europe/Moscow", "MSK-3");
const core::TimeZone new_york = core::TimeZone::from_posix("America/New_York", "EST5EDT,M3.2.0,M11.1.0");
}  // namespace

TEST_CASE("At 00:30 local in Shanghai the window is [yesterday, today] in local dates") {
  core::Time now = utc(2026, 3, 14, 16, 30);  // 2026-03-15 00:30 in Shanghai
  CHECK(pipeline::query_window(now, shanghai, -1) == pipeline::DateWindow{"20260314", "20260315"});
  CHECK(pipeline::query_window(now, shanghai, -1).dicom_range() == "20260314-20260315");
  CHECK(pipeline::query_window(now, shanghai, 0).dicom_range() == "20260315");
  // What the UTC window was: the night's studies (dated 20260315) were not in it.
  CHECK(pipeline::query_window(now, core::TimeZone::utc(), -1) == pipeline::DateWindow{"20260313", "20260314"});
  // Every local instant from 00:00 to 08:00 gives the same window.
  for (int m = 0; m < 8 * 60; m += 7)
    REQUIRE(pipeline::query_window(utc(2026, 3, 14, 16) + minutes(m), shanghai, -1) ==
            pipeline::DateWindow{"20260314", "20260315"});
  CHECK(pipeline::query_window(utc(2026, 3, 14, 15, 59), shanghai, -1) == pipeline::DateWindow{"20260313", "20260314"});
}

TEST_CASE("At 00:30 local in Moscow the window is [yesterday, today] in local dates") {
  core::Time now = utc(2026, 3, 14, 21, 30);  // 2026-03-15 00:30 MSK
  CHECK(pipeline::query_window(now, moscow, -1) == pipeline::DateWindow{"20260314", "20260315"});
  CHECK(pipeline::query_window(now, core::TimeZone::utc(), -1) == pipeline::DateWindow{"20260313", "20260314"});
}

TEST_CASE("A device clock 8 h behind stamps tonight's 00:30 exam with yesterday 16:30: inside the window, ordered by its stamp") {
  core::Time now = utc(2026, 3, 14, 16, 45);  // 00:45 local
  auto window = pipeline::query_window(now, shanghai, -1);
  // The honest device's exam at 00:30 local, and the lagging device's exam at the same
  // moment, stamped 16:30 the day before.
  auto honest = core::parse_dicom_civil("20260315", "003000");
  auto lagging = core::parse_dicom_civil("20260314", "163000");
  REQUIRE(honest);
  REQUIRE(lagging);
  for (const auto& c : {*honest, *lagging}) {
    std::string date = core::format_dicom_date(c);
    CHECK(date >= window.from);
    CHECK(date <= window.to);
  }
  auto t_honest = core::parse_dicom_datetime("20260315", "003000", shanghai);
  auto t_lagging = core::parse_dicom_datetime("20260314", "163000", shanghai);
  CHECK(*t_honest == utc(2026, 3, 14, 16, 30));   // the real instant
  CHECK(*t_lagging == utc(2026, 3, 14, 8, 30));   // 8 h early, as stamped
  CHECK(*t_lagging < *t_honest);                  // earliest exam time moves first
  CHECK(*t_honest <= now);                        // read as UTC it was 8 h in the future
  CHECK(*core::parse_dicom_datetime("20260315", "003000", core::TimeZone::utc()) > now);
  // With crossday 0 the lagging device's exam is lost until its date comes round: the
  // reason crossday defaults to -1.
  CHECK(core::format_dicom_date(*lagging) < pipeline::query_window(now, shanghai, 0).from);
}

TEST_CASE("The window counts calendar days across DST changes and month/year ends") {
  // 2026-03-08 00:30 EST in New York is a 23-hour day; 2026-11-01 a 25-hour one.
  CHECK(pipeline::query_window(utc(2026, 3, 9, 4, 30), new_york, -1) == pipeline::DateWindow{"20260308", "20260309"});
  CHECK(pipeline::query_window(utc(2026, 11, 2, 5, 30), new_york, -1) == pipeline::DateWindow{"20261101", "20261102"});
  CHECK(pipeline::query_window(utc(2026, 12, 31, 16, 30), shanghai, -1) == pipeline::DateWindow{"20261231", "20270101"});
  CHECK(pipeline::query_window(utc(2028, 2, 29, 16, 30), shanghai, -2) == pipeline::DateWindow{"20280228", "20280301"});
}
