#include "pacspull/core/time.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string_view>

namespace pacspull::core {

std::string format_iso(Time t) {
  std::time_t tt = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tmv{};
  gmtime_r(&tt, &tmv);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  return buf;
}

std::optional<Time> parse_iso(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SSZ
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
      s[16] != ':' || (s[19] != 'Z' && s[19] != 'z'))
    return std::nullopt;
  auto num = [&](size_t at, size_t n, int& v) {
    v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, se;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, se))
    return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                  std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || se > 59) return std::nullopt;
  return Time(std::chrono::sys_days{ymd} + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(se));
}

}  // namespace pacspull::core
