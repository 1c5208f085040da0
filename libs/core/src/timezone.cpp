#include "pacspull/core/timezone.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

namespace pacspull::core {
namespace {

using namespace std::chrono;

constexpr int64_t kDay = 86400;

int64_t days_from_civil(int y, unsigned m, unsigned d) {
  return sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count();
}

CivilTime civil_from_seconds(int64_t local) {
  int64_t days = local >= 0 ? local / kDay : -((-local + kDay - 1) / kDay);
  int64_t rem = local - days * kDay;
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  return CivilTime{static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                   static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60)};
}

int64_t seconds_of(Time t) { return floor<seconds>(t).time_since_epoch().count(); }
Time time_of(int64_t s) { return Time{} + seconds(s); }

// ---- TZif ----------------------------------------------------------------------------

class Bytes {
 public:
  Bytes(std::string_view b, const std::string& name) : b_(b), name_(name) {}
  void need(size_t n) const {
    if (b_.size() - at_ < n || at_ > b_.size()) fail("truncated");
  }
  uint64_t be(size_t n) {
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = v << 8 | static_cast<unsigned char>(b_[at_ + i]);
    at_ += n;
    return v;
  }
  int64_t be_signed(size_t n) {
    uint64_t v = be(n);
    if (n == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }
  void skip(size_t n) {
    need(n);
    at_ += n;
  }
  std::string_view take(size_t n) {
    need(n);
    auto s = b_.substr(at_, n);
    at_ += n;
    return s;
  }
  std::string_view rest() const { return b_.substr(at_); }
  [[noreturn]] void fail(const std::string& what) const {
    throw TimeZoneError("time zone " + name_ + ": not a valid TZif file (" + what + ")");
  }

 private:
  std::string_view b_;
  const std::string& name_;
  size_t at_ = 0;
};

struct Header {
  char version = 0;
  uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

Header read_header(Bytes& in) {
  if (in.take(4) != "TZif") in.fail("no TZif magic");
  Header h;
  h.version = static_cast<char>(in.be(1));
  if (h.version != 0 && (h.version < '2' || h.version > '4')) in.fail("unknown version");
  in.skip(15);
  h.isutcnt = static_cast<uint32_t>(in.be(4));
  h.isstdcnt = static_cast<uint32_t>(in.be(4));
  h.leapcnt = static_cast<uint32_t>(in.be(4));
  h.timecnt = static_cast<uint32_t>(in.be(4));
  h.typecnt = static_cast<uint32_t>(in.be(4));
  h.charcnt = static_cast<uint32_t>(in.be(4));
  if (h.typecnt == 0) in.fail("no local time types");
  if ((h.isutcnt != 0 && h.isutcnt != h.typecnt) || (h.isstdcnt != 0 && h.isstdcnt != h.typecnt))
    in.fail("inconsistent counts");
  return h;
}

size_t block_size(const Header& h, size_t time_size) {
  return size_t{h.timecnt} * time_size + h.timecnt + size_t{h.typecnt} * 6 + h.charcnt +
         size_t{h.leapcnt} * (time_size + 4) + h.isstdcnt + h.isutcnt;
}

// ---- POSIX TZ rule -------------------------------------------------------------------

class RuleParser {
 public:
  RuleParser(std::string_view s, const std::string& name) : s_(s), name_(name) {}

  TimeZone::PosixRule parse() {
    TimeZone::PosixRule r;
    r.std_type.abbreviation = abbreviation();
    r.std_type.utoff = -offset(true);
    if (done()) return r;
    TimeZone::LocalType dst;
    dst.dst = true;
    dst.abbreviation = abbreviation();
    dst.utoff = r.std_type.utoff + 3600;
    if (!done() && peek() != ',') dst.utoff = -offset(true);
    r.dst_type = dst;
    if (done()) {
      // No rule: the US rule POSIX implementations assume (glibc does the same).
      r.start = {TimeZone::PosixRule::Date::Kind::MonthWeekDay, 0, 3, 2, 0, 7200};
      r.end = {TimeZone::PosixRule::Date::Kind::MonthWeekDay, 0, 11, 1, 0, 7200};
      return r;
    }
    expect(',');
    r.start = date();
    expect(',');
    r.end = date();
    if (!done()) fail("trailing characters");
    return r;
  }

 private:
  bool done() const { return at_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[at_]; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++at_;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw TimeZoneError("time zone " + name_ + ": bad POSIX TZ rule '" + std::string(s_) + "' (" + what + ")");
  }
  std::string abbreviation() {
    std::string out;
    if (peek() == '<') {
      ++at_;
      while (!done() && peek() != '>') out += s_[at_++];
      expect('>');
    } else {
      while (!done() && std::isalpha(static_cast<unsigned char>(peek()))) out += s_[at_++];
    }
    if (out.size() < 3) fail("abbreviation shorter than 3 characters");
    return out;
  }
  int number(int max_digits) {
    int v = 0, n = 0;
    while (!done() && std::isdigit(static_cast<unsigned char>(peek())) && n < max_digits) {
      v = v * 10 + (s_[at_++] - '0');
      ++n;
    }
    if (n == 0) fail("expected a number");
    return v;
  }
  // [+-]hh[:mm[:ss]] in seconds; hours up to 167 (RFC 8536 extension for rule times).
  int offset(bool signed_ok) {
    int sign = 1;
    if (signed_ok && (peek() == '+' || peek() == '-')) sign = s_[at_++] == '-' ? -1 : 1;
    int h = number(3);
    int m = 0, sec = 0;
    if (peek() == ':') {
      ++at_;
      m = number(2);
      if (peek() == ':') {
        ++at_;
        sec = number(2);
      }
    }
    if (h > 167 || m > 59 || sec > 59) fail("offset out of range");
    return sign * (h * 3600 + m * 60 + sec);
  }
  TimeZone::PosixRule::Date date() {
    using D = TimeZone::PosixRule::Date;
    D d;
    if (peek() == 'J') {
      ++at_;
      d.kind = D::Kind::Julian1;
      d.day = number(3);
      if (d.day < 1 || d.day > 365) fail("Jn out of range");
    } else if (peek() == 'M') {
      ++at_;
      d.kind = D::Kind::MonthWeekDay;
      d.month = number(2);
      expect('.');
      d.week = number(1);
      expect('.');
      d.weekday = number(1);
      if (d.month < 1 || d.month > 12 || d.week < 1 || d.week > 5 || d.weekday > 6) fail("Mm.w.d out of range");
    } else {
      d.kind = D::Kind::Julian0;
      d.day = number(3);
      if (d.day > 365) fail("n out of range");
    }
    if (peek() == '/') {
      ++at_;
      d.time = offset(true);
    }
    return d;
  }

  std::string_view s_;
  const std::string& name_;
  size_t at_ = 0;
};

// Local midnight-based seconds (as if UTC) of a rule date in `y`, plus its time.
int64_t rule_local_seconds(const TimeZone::PosixRule::Date& d, int y) {
  using D = TimeZone::PosixRule::Date;
  bool leap = year{y}.is_leap();
  int64_t day0 = days_from_civil(y, 1, 1);
  int64_t days = 0;
  switch (d.kind) {
    case D::Kind::Julian1:
      days = day0 + d.day - 1 + (leap && d.day >= 60 ? 1 : 0);
      break;
    case D::Kind::Julian0:
      days = day0 + d.day;
      break;
    case D::Kind::MonthWeekDay: {
      int64_t first = days_from_civil(y, static_cast<unsigned>(d.month), 1);
      unsigned first_wd = weekday{sys_days{std::chrono::days{first}}}.c_encoding();
      int64_t dom = (d.weekday - static_cast<int>(first_wd) + 7) % 7 + (d.week - 1) * 7;
      auto month_days = static_cast<int64_t>(
          static_cast<unsigned>((year{y} / month{static_cast<unsigned>(d.month)} / std::chrono::last).day()));
      while (dom >= month_days) dom -= 7;
      days = first + dom;
      break;
    }
  }
  return days * kDay + d.time;
}

int rule_offset_at(const TimeZone::PosixRule& r, int64_t utc) {
  if (!r.dst_type) return r.std_type.utoff;
  int y = civil_from_seconds(utc + r.std_type.utoff).year;
  auto in_dst = [&](int yy) {
    int64_t start = rule_local_seconds(r.start, yy) - r.std_type.utoff;
    int64_t end = rule_local_seconds(r.end, yy) - r.dst_type->utoff;
    if (start < end) return utc >= start && utc < end;
    return utc < end || utc >= start;  // southern hemisphere: DST spans the new year
  };
  return in_dst(y) ? r.dst_type->utoff : r.std_type.utoff;
}

}  // namespace

std::string format_dicom_date(const CivilTime& c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", c.year, c.month, c.day);
  return buf;
}

std::string format_civil(const CivilTime& c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d:%02d", c.year, c.month, c.day, c.hour, c.minute, c.second);
  return buf;
}

TimeZone::TimeZone() : name_("UTC"), types_{LocalType{0, false, "UTC"}} {}

TimeZone TimeZone::utc() { return TimeZone(); }

TimeZone TimeZone::from_posix(std::string name, std::string_view rule) {
  TimeZone z;
  z.name_ = std::move(name);
  z.footer_ = RuleParser(rule, z.name_).parse();
  z.footer_text_ = std::string(rule);
  z.types_ = {z.footer_->std_type};
  return z;
}

TimeZone TimeZone::from_tzif(std::string name, std::string_view bytes) {
  TimeZone z;
  z.name_ = std::move(name);
  z.types_.clear();
  Bytes in(bytes, z.name_);
  Header h = read_header(in);
  size_t time_size = 4;
  if (h.version >= '2') {
    in.skip(block_size(h, 4));  // the 32-bit block; the 64-bit one follows
    h = read_header(in);
    time_size = 8;
  }
  if (h.leapcnt != 0) in.fail("leap-second zone files (right/...) are not supported");
  in.need(block_size(h, time_size));  // before reserving anything a corrupt count asks for
  z.transitions_.reserve(h.timecnt);
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    int64_t t = in.be_signed(time_size);
    if (!z.transitions_.empty() && t <= z.transitions_.back()) in.fail("transitions not ascending");
    z.transitions_.push_back(t);
  }
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    auto idx = static_cast<uint8_t>(in.be(1));
    if (idx >= h.typecnt) in.fail("transition to an unknown local time type");
    z.transition_type_.push_back(idx);
  }
  std::vector<std::pair<LocalType, unsigned>> raw;
  for (uint32_t i = 0; i < h.typecnt; ++i) {
    LocalType t;
    t.utoff = static_cast<int32_t>(in.be_signed(4));
    if (t.utoff <= -89999 || t.utoff >= 93600) in.fail("UT offset out of range");
    t.dst = in.be(1) != 0;
    auto abbr_at = static_cast<unsigned>(in.be(1));
    raw.emplace_back(t, abbr_at);
  }
  std::string_view chars = in.take(h.charcnt);
  for (auto& [t, at] : raw) {
    if (at >= chars.size()) in.fail("abbreviation index out of range");
    std::string_view rest = chars.substr(at);
    t.abbreviation = std::string(rest.substr(0, rest.find('\0')));
    z.types_.push_back(t);
  }
  in.skip(h.isstdcnt + h.isutcnt);
  if (time_size == 8) {
    std::string_view footer = in.rest();
    if (footer.size() < 2 || footer.front() != '\n') in.fail("no footer");
    footer.remove_prefix(1);
    auto nl = footer.find('\n');
    if (nl == std::string_view::npos) in.fail("unterminated footer");
    footer = footer.substr(0, nl);
    if (!footer.empty()) {
      z.footer_ = RuleParser(footer, z.name_).parse();
      z.footer_text_ = std::string(footer);
    }
  }
  return z;
}

int64_t TimeZone::offset_seconds_at(int64_t utc) const {
  if (transitions_.empty() || utc < transitions_.front()) {
    if (transitions_.empty() && footer_) return rule_offset_at(*footer_, utc);
    return types_.front().utoff;
  }
  if (utc >= transitions_.back() && footer_) return rule_offset_at(*footer_, utc);
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
  size_t i = static_cast<size_t>(it - transitions_.begin()) - 1;
  return types_[transition_type_[i]].utoff;
}

int TimeZone::offset_at(Time t) const { return static_cast<int>(offset_seconds_at(seconds_of(t))); }

CivilTime TimeZone::to_local(Time t) const {
  int64_t s = seconds_of(t);
  return civil_from_seconds(s + offset_seconds_at(s));
}

TimeZone::Resolved TimeZone::resolve(const CivilTime& c) const {
  int64_t local = days_from_civil(c.year, c.month, c.day) * kDay + c.hour * 3600 + c.minute * 60 + c.second;
  // Offsets lie within +-26 h, so the instant lies within local -+ 26 h; sample the
  // offsets in effect around it (transitions closer than ~13 h apart do not exist in
  // real data) and keep those that reproduce the reading.
  std::set<int64_t> offsets;
  for (int64_t probe = -27; probe <= 27; probe += 9) offsets.insert(offset_seconds_at(local + probe * 3600));
  std::vector<int64_t> valid;
  for (int64_t o : offsets)
    if (offset_seconds_at(local - o) == o) valid.push_back(o);
  Resolved r;
  if (valid.size() == 1) {
    r.time = time_of(local - valid.front());
  } else if (valid.empty()) {
    // A gap: the clock jumped forward, so the offset before the transition is the
    // smaller one; reading the wall clock with it shifts the time forward by the gap.
    r.mapping = Mapping::Skipped;
    r.time = time_of(local - *offsets.begin());
  } else {
    // An overlap: the first occurrence is the earliest instant (the larger offset).
    r.mapping = Mapping::Repeated;
    r.time = time_of(local - *std::max_element(valid.begin(), valid.end()));
  }
  return r;
}

std::optional<CivilTime> parse_dicom_civil(std::string_view da, std::string_view tm) {
  auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; });
  };
  auto num = [](std::string_view s) {
    int v = 0;
    for (char ch : s) v = v * 10 + (ch - '0');
    return v;
  };
  while (!da.empty() && (da.back() == ' ' || da.back() == '\0')) da.remove_suffix(1);
  if (da.size() != 8 || !digits(da)) return std::nullopt;
  CivilTime c{num(da.substr(0, 4)), static_cast<unsigned>(num(da.substr(4, 2))),
              static_cast<unsigned>(num(da.substr(6, 2))), 0, 0, 0};
  if (!year_month_day{year{c.year} / month{c.month} / day{c.day}}.ok()) return std::nullopt;
  while (!tm.empty() && tm.front() == ' ') tm.remove_prefix(1);
  std::string_view hms = tm.substr(0, std::min<size_t>(tm.size(), 6));
  if (hms.size() >= 2 && hms.size() % 2 == 0 && digits(hms)) {
    int h = num(hms.substr(0, 2));
    int m = hms.size() >= 4 ? num(hms.substr(2, 2)) : 0;
    int s = hms.size() >= 6 ? num(hms.substr(4, 2)) : 0;
    if (h < 24 && m < 60 && s < 61) {
      c.hour = h;
      c.minute = m;
      c.second = std::min(s, 59);  // a leap second reads as :59
    }
  }
  return c;
}

std::optional<Time> parse_dicom_datetime(std::string_view da, std::string_view tm, const TimeZone& zone) {
  auto c = parse_dicom_civil(da, tm);
  if (!c) return std::nullopt;
  return zone.from_local(*c);
}

std::string format_dicom_date(Time t, const TimeZone& zone) { return format_dicom_date(zone.to_local(t)); }

}  // namespace pacspull::core
