// TimeZone against the host's tzdata files (Debian tzdata) and, as an independent
// reference, glibc's own reading of the same zones (localtime_r with TZ set).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "pacspull/core/timezone.hpp"

using namespace pacspull::core;
using namespace std::chrono;

namespace {

std::string zone_bytes(const std::string& name) {
  std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TimeZone zone(const std::string& name) { return TimeZone::from_tzif(name, zone_bytes(name)); }

Time utc(int y, unsigned mo, unsigned d, int h, int mi = 0, int s = 0) {
  return Time(sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi) + seconds(s));
}

CivilTime civil(int y, unsigned mo, unsigned d, int h, int mi = 0, int s = 0) { return CivilTime{y, mo, d, h, mi, s}; }

// glibc's offset for `t` in zone `name`.
long glibc_offset(const std::string& name, Time t) {
  setenv("TZ", (":" + name).c_str(), 1);
  tzset();
  std::time_t tt = system_clock::to_time_t(t);
  std::tm tmv{};
  localtime_r(&tt, &tmv);
  return tmv.tm_gmtoff;
}

}  // namespace

TEST_CASE("UTC is the default zone") {
  TimeZone z;
  CHECK(z.name() == "UTC");
  CHECK(z.offset_at(utc(2026, 3, 14, 16, 30)) == 0);
  CHECK(z.to_local(utc(2026, 3, 14, 16, 30)) == civil(2026, 3, 14, 16, 30));
  CHECK(zone("Etc/UTC").offset_at(utc(1999, 1, 1, 0)) == 0);
  CHECK(zone("UTC").from_local(civil(2026, 1, 1, 0)) == utc(2026, 1, 1, 0));
}

TEST_CASE("Asia/Shanghai is UTC+8 without DST today (and had DST 1986-1991)") {
  TimeZone z = zone("Asia/Shanghai");
  CHECK(z.offset_at(utc(2026, 3, 14, 16, 30)) == 8 * 3600);
  CHECK(z.to_local(utc(2026, 3, 14, 16, 30)) == civil(2026, 3, 15, 0, 30));  // 00:30 local = 16:30 UTC the day before
  CHECK(z.from_local(civil(2026, 3, 15, 0, 30)) == utc(2026, 3, 14, 16, 30));
  CHECK(z.resolve(civil(2026, 7, 1, 2, 30)).mapping == TimeZone::Mapping::Unique);
  CHECK(z.offset_at(utc(1988, 7, 1, 0)) == 9 * 3600);
  CHECK(z.offset_at(utc(2100, 7, 1, 0)) == 8 * 3600);  // after the last transition: the footer rule "CST-8"
  CHECK(z.footer() == "CST-8");
}

TEST_CASE("Europe/Moscow: MSK/MSD until 2011, +4 all year 2011-2014, +3 since 2014-10-26") {
  TimeZone z = zone("Europe/Moscow");
  CHECK(z.offset_at(utc(2010, 1, 15, 12)) == 3 * 3600);
  CHECK(z.offset_at(utc(2010, 7, 15, 12)) == 4 * 3600);
  CHECK(z.offset_at(utc(2011, 3, 26, 22, 59, 59)) == 3 * 3600);
  CHECK(z.offset_at(utc(2011, 3, 26, 23, 0, 0)) == 4 * 3600);  // 2011-03-27 02:00 local: clocks forward for good
  CHECK(z.offset_at(utc(2013, 1, 15, 12)) == 4 * 3600);       // no fall-back in winter 2011/12, 2012/13, 2013/14
  CHECK(z.offset_at(utc(2014, 10, 25, 21, 59, 59)) == 4 * 3600);
  CHECK(z.offset_at(utc(2014, 10, 25, 22, 0, 0)) == 3 * 3600);  // 2014-10-26 02:00 local back to 01:00
  CHECK(z.offset_at(utc(2026, 7, 1, 0)) == 3 * 3600);
  // 01:30 on 2014-10-26 happened twice: the first one (+4) is chosen.
  auto r = z.resolve(civil(2014, 10, 26, 1, 30));
  CHECK(r.mapping == TimeZone::Mapping::Repeated);
  CHECK(r.time == utc(2014, 10, 25, 21, 30));
  // 02:30 on 2011-03-27 never happened: read with the offset before the gap (+3).
  auto g = z.resolve(civil(2011, 3, 27, 2, 30));
  CHECK(g.mapping == TimeZone::Mapping::Skipped);
  CHECK(g.time == utc(2011, 3, 26, 23, 30));
  CHECK(z.to_local(g.time) == civil(2011, 3, 27, 3, 30));
  CHECK(z.to_local(utc(2026, 3, 14, 21, 30)) == civil(2026, 3, 15, 0, 30));
}

TEST_CASE("America/New_York: DST gap and overlap resolve deterministically, the footer rule after 2037") {
  TimeZone z = zone("America/New_York");
  CHECK(z.offset_at(utc(2026, 1, 15, 12)) == -5 * 3600);
  CHECK(z.offset_at(utc(2026, 7, 15, 12)) == -4 * 3600);
  // 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC).
  CHECK(z.offset_at(utc(2026, 3, 8, 6, 59, 59)) == -5 * 3600);
  CHECK(z.offset_at(utc(2026, 3, 8, 7)) == -4 * 3600);
  auto gap = z.resolve(civil(2026, 3, 8, 2, 30));
  CHECK(gap.mapping == TimeZone::Mapping::Skipped);
  CHECK(gap.time == utc(2026, 3, 8, 7, 30));                   // = 03:30 EDT: forward by the gap
  CHECK(z.to_local(gap.time) == civil(2026, 3, 8, 3, 30));
  CHECK(z.resolve(civil(2026, 3, 8, 1, 59, 59)).time == utc(2026, 3, 8, 6, 59, 59));
  CHECK(z.resolve(civil(2026, 3, 8, 3, 0)).time == utc(2026, 3, 8, 7));
  // 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC): 01:30 happens twice.
  auto overlap = z.resolve(civil(2026, 11, 1, 1, 30));
  CHECK(overlap.mapping == TimeZone::Mapping::Repeated);
  CHECK(overlap.time == utc(2026, 11, 1, 5, 30));  // the first (EDT) one
  CHECK(z.to_local(utc(2026, 11, 1, 6, 30)) == civil(2026, 11, 1, 1, 30));  // the second one reads the same
  CHECK(z.resolve(civil(2026, 11, 1, 2, 0)).mapping == TimeZone::Mapping::Unique);
  // Far future: computed from "EST5EDT,M3.2.0,M11.1.0".
  CHECK(z.footer() == "EST5EDT,M3.2.0,M11.1.0");
  CHECK(z.offset_at(utc(2045, 3, 12, 6, 59, 59)) == -5 * 3600);  // 2045-03-12 is the 2nd Sunday of March
  CHECK(z.offset_at(utc(2045, 3, 12, 7)) == -4 * 3600);
  CHECK(z.offset_at(utc(2045, 11, 5, 5, 59, 59)) == -4 * 3600);  // 2045-11-05 is the 1st Sunday of November
  CHECK(z.offset_at(utc(2045, 11, 5, 6)) == -5 * 3600);
  CHECK(z.resolve(civil(2045, 11, 5, 1, 30)).mapping == TimeZone::Mapping::Repeated);
}

TEST_CASE("POSIX TZ rules alone: fixed, northern and southern DST, quoted names") {
  TimeZone cst = TimeZone::from_posix("CST-8", "CST-8");
  CHECK(cst.offset_at(utc(2026, 3, 14, 16, 30)) == 8 * 3600);
  TimeZone msk = TimeZone::from_posix("msk", "<+03>-3");
  CHECK(msk.to_local(utc(2026, 3, 14, 21, 30)) == civil(2026, 3, 15, 0, 30));
  TimeZone ny = TimeZone::from_posix("ny", "EST5EDT,M3.2.0,M11.1.0");
  TimeZone sydney = TimeZone::from_posix("syd", "AEST-10AEDT,M10.1.0,M4.1.0/3");
  TimeZone ny_file = zone("America/New_York");
  TimeZone sydney_file = zone("Australia/Sydney");
  for (int y = 2008; y <= 2036; ++y)
    for (unsigned mo = 1; mo <= 12; ++mo)
      for (int h = 0; h < 24 * 28; h += 7) {
        Time t = utc(y, mo, 1, 0) + hours(h);
        REQUIRE(ny.offset_at(t) == ny_file.offset_at(t));
        REQUIRE(sydney.offset_at(t) == sydney_file.offset_at(t));
      }
  CHECK_THROWS_AS(TimeZone::from_posix("bad", "X-8"), TimeZoneError);
  CHECK_THROWS_AS(TimeZone::from_posix("bad", "EST5EDT,M13.1.0,M11.1.0"), TimeZoneError);
  CHECK_THROWS_AS(TimeZone::from_posix("bad", "EST5EDT,M3.2.0"), TimeZoneError);
}

TEST_CASE("Offsets agree with glibc for random instants 1900-2100 in every tested zone") {
  std::mt19937_64 rng(6);
  std::uniform_int_distribution<int64_t> secs(-2208988800LL, 4102444800LL);  // 1900 .. 2100
  const char* saved_tz = std::getenv("TZ");
  std::string saved = saved_tz ? saved_tz : "";
  for (const std::string name : {"Asia/Shanghai", "Europe/Moscow", "America/New_York", "Australia/Sydney",
                                 "Asia/Kolkata", "America/Sao_Paulo", "Europe/Dublin", "Pacific/Chatham",
                                 "Asia/Urumqi", "UTC"}) {
    TimeZone z = zone(name);
    for (int i = 0; i < 4000; ++i) {
      Time t = Time{} + seconds(secs(rng));
      INFO(name << " at " << format_iso(t));
      REQUIRE(z.offset_at(t) == glibc_offset(name, t));
      // Round trip: the wall clock reading maps back to t, or to the first of a repeated hour.
      auto r = z.resolve(z.to_local(t));
      REQUIRE(r.mapping != TimeZone::Mapping::Skipped);
      if (r.mapping == TimeZone::Mapping::Unique) REQUIRE(r.time == t);
      else REQUIRE(r.time <= t);
    }
  }
  if (saved_tz) setenv("TZ", saved.c_str(), 1);
  else unsetenv("TZ");
  tzset();
}

TEST_CASE("Malformed TZif bytes are an error naming the zone, never a crash") {
  std::string good = zone_bytes("Europe/Moscow");
  CHECK_THROWS_WITH(TimeZone::from_tzif("Nowhere/X", "not a zone file"), Catch::Contains("Nowhere/X"));
  for (size_t cut : {size_t{0}, size_t{4}, size_t{44}, size_t{100}, good.size() / 2, good.size() - 1})
    CHECK_THROWS_AS(TimeZone::from_tzif("Europe/Moscow", std::string_view(good).substr(0, cut)), TimeZoneError);
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; ++i) {  // random corruption: a clean error or a zone, nothing else
    std::string bad = good;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    try {
      TimeZone z = TimeZone::from_tzif("Europe/Moscow", bad);
      (void)z.to_local(utc(2026, 1, 1, 0));
    } catch (const TimeZoneError&) {
    }
  }
}

TEST_CASE("DICOM DA/TM read as the zone's wall clock") {
  TimeZone sh = zone("Asia/Shanghai");
  auto t = parse_dicom_datetime("20260315", "003015.123", sh);
  REQUIRE(t);
  CHECK(format_iso(*t) == "2026-03-14T16:30:15Z");
  CHECK(format_dicom_date(*t, sh) == "20260315");
  CHECK(format_dicom_date(*t, TimeZone::utc()) == "20260314");
  CHECK(format_iso(*parse_dicom_datetime("20260315", "", sh)) == "2026-03-14T16:00:00Z");
  CHECK(format_iso(*parse_dicom_datetime("20260315 ", "0030", sh)) == "2026-03-14T16:30:00Z");
  CHECK(format_iso(*parse_dicom_datetime("20200612", "083015", TimeZone::utc())) == "2020-06-12T08:30:15Z");
  CHECK_FALSE(parse_dicom_datetime("2020-06-12", "", sh).has_value());
  CHECK_FALSE(parse_dicom_datetime("20201332", "", sh).has_value());
  CHECK_FALSE(parse_dicom_datetime("20210229", "", sh).has_value());
  CHECK(format_iso(*parse_dicom_datetime("20260315", "2561", sh)) == "2026-03-14T16:00:00Z");  // bad TM: 00:00
}
