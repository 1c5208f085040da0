#include <cctype>
#include <stdexcept>

#include "pacspull/config/site_config.hpp"

namespace pacspull::config {

Millis parse_duration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) throw std::invalid_argument("not a duration: '" + text + "' (use 500ms, 30s, 5m, 2h)");
  long long n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  if (unit == "ms") return Millis(n);
  if (unit == "s" || (unit.empty() && n == 0)) return Millis(n * 1000);
  if (unit == "m") return Millis(n * 60'000);
  if (unit == "h") return Millis(n * 3'600'000);
  throw std::invalid_argument("not a duration: '" + text + "' (use 500ms, 30s, 5m, 2h)");
}

}  // namespace pacspull::config
