#include "pacspull/core/time.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace pacspull::core {
namespace {
bool all_digits(std::string_view s) {
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}
int num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}
}  // namespace

std::optional<Time> parse_dicom_datetime(std::string_view da, std::string_view tm) {
  while (!da.empty() && (da.back() == ' ' || da.back() == '\0')) da.remove_suffix(1);
  if (da.size() != 8 || !all_digits(da)) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{num(da.substr(0, 4))},
                                  std::chrono::month{static_cast<unsigned>(num(da.substr(4, 2)))},
                                  std::chrono::day{static_cast<unsigned>(num(da.substr(6, 2)))}};
  if (!ymd.ok()) return std::nullopt;
  Time t = std::chrono::sys_days{ymd};
  std::string_view hms = tm.substr(0, std::min<size_t>(tm.size(), 6));
  if (hms.size() >= 2 && all_digits(hms) && hms.size() % 2 == 0) {
    int h = num(hms.substr(0, 2));
    int m = hms.size() >= 4 ? num(hms.substr(2, 2)) : 0;
    int s = hms.size() >= 6 ? num(hms.substr(4, 2)) : 0;
    if (h < 24 && m < 60 && s < 61) t += std::chrono::hours(h) + std::chrono::minutes(m) + std::chrono::seconds(s);
  }
  return t;
}

std::string format_dicom_date(Time t) {
  std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string format_iso(Time t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tmv{};
  gmtime_r(&tt, &tmv);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  return buf;
}

}  // namespace pacspull::core
