#pragma once
// A time zone read from the bytes of a TZif file (RFC 8536, what /usr/share/zoneinfo
// holds): its transitions, the local time types they switch to, and the POSIX TZ rule of
// the footer for instants after the last transition. GCC 12's libstdc++ has no
// std::chrono::locate_zone, and StudyDate/StudyTime are the hospital's wall clock, so the
// finder's date window and exam times need this. No file I/O here: the loader that reads
// a zone by name lives in libs/config (pacspull/config/time_zone.hpp).
//
// Thread-safety: a TimeZone is immutable after construction; share it freely.
#include <compare>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pacspull/core/time.hpp"

namespace pacspull::core {

// A wall-clock reading (proleptic Gregorian calendar, whole seconds).
struct CivilTime {
  int year = 1970;
  unsigned month = 1, day = 1;
  int hour = 0, minute = 0, second = 0;
  auto operator<=>(const CivilTime&) const = default;
};

// "YYYYMMDD" of a civil time (its date part).
std::string format_dicom_date(const CivilTime& c);
// "YYYY-MM-DD HH:MM:SS"
std::string format_civil(const CivilTime& c);

class TimeZoneError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class TimeZone {
 public:
  // How a wall-clock time maps to instants.
  enum class Mapping {
    Unique,    // exactly one instant
    Skipped,   // in a gap (clocks jumped forward): does not exist
    Repeated,  // in an overlap (clocks went back): exists twice
  };
  struct Resolved {
    Mapping mapping = Mapping::Unique;
    Time time;  // the deterministic choice, see from_local
  };

  TimeZone();  // UTC
  static TimeZone utc();
  // Parses the content of a TZif file (version 1 to 4). Throws TimeZoneError naming
  // `name` on anything malformed. Leap-second files ("right/...") are refused.
  static TimeZone from_tzif(std::string name, std::string_view bytes);
  // A zone from a POSIX TZ rule alone ("CST-8", "EST5EDT,M3.2.0,M11.1.0", "<+03>-3").
  static TimeZone from_posix(std::string name, std::string_view rule);

  const std::string& name() const { return name_; }
  // Seconds east of UTC in effect at `t`.
  int offset_at(Time t) const;
  // The wall clock at `t` (sub-second part dropped).
  CivilTime to_local(Time t) const;
  // The instant a wall-clock reading means. Deterministic for gaps and overlaps: the
  // offset in effect *before* the transition is used, so a skipped 02:30 becomes the
  // instant the clock showed 03:30 (shifted forward by the gap), and a repeated 01:30 is
  // its first occurrence (java.time's rule for ZonedDateTime.of).
  Time from_local(const CivilTime& c) const { return resolve(c).time; }
  Resolved resolve(const CivilTime& c) const;

  // The parsed POSIX footer rule (for tests and diagnostics); empty for none.
  const std::string& footer() const { return footer_text_; }

  struct LocalType {
    int32_t utoff = 0;  // seconds east of UTC
    bool dst = false;
    std::string abbreviation;
  };
  struct PosixRule {
    // A date rule of the TZ string: Jn (julian, no Feb 29), n (zero-based, leap counted),
    // or Mm.w.d (day d of week w of month m, w = 5: the last).
    struct Date {
      enum class Kind { Julian1, Julian0, MonthWeekDay } kind = Kind::MonthWeekDay;
      int day = 0;                 // Jn / n
      int month = 0, week = 0, weekday = 0;
      int time = 7200;             // seconds after local midnight, may be negative or > 24 h
    };
    LocalType std_type;
    std::optional<LocalType> dst_type;
    Date start, end;  // meaningful when dst_type
  };

 private:
  int64_t offset_seconds_at(int64_t utc_seconds) const;

  std::string name_;
  std::vector<int64_t> transitions_;     // UTC seconds, ascending
  std::vector<uint8_t> transition_type_; // index into types_ per transition
  std::vector<LocalType> types_;         // types_[0] applies before the first transition
  std::optional<PosixRule> footer_;
  std::string footer_text_;
};

// DICOM DA ("20240131") plus optional TM ("083015.123"), read as the wall clock of
// `zone` -> the instant. Returns nullopt on a malformed date; a malformed time counts as
// 00:00. Gaps and overlaps resolve as TimeZone::from_local.
std::optional<Time> parse_dicom_datetime(std::string_view da, std::string_view tm, const TimeZone& zone);
// The civil reading of DA/TM, without a zone.
std::optional<CivilTime> parse_dicom_civil(std::string_view da, std::string_view tm);
// The local date ("YYYYMMDD") of `t` in `zone`.
std::string format_dicom_date(Time t, const TimeZone& zone);

}  // namespace pacspull::core
