#include "pacspull/core/attributes.hpp"

#include <charconv>
#include <cstdlib>

namespace pacspull::core {

std::string trim_dicom(std::string_view raw) {
  size_t b = 0;
  size_t e = raw.size();
  while (b < e && raw[b] == ' ') ++b;
  while (e > b && (raw[e - 1] == ' ' || raw[e - 1] == '\0')) --e;
  return std::string(raw.substr(b, e - b));
}

std::vector<std::string> split_multi(std::string_view raw) {
  std::vector<std::string> out;
  if (trim_dicom(raw).empty()) return out;
  size_t start = 0;
  while (true) {
    size_t pos = raw.find('\\', start);
    out.push_back(trim_dicom(raw.substr(start, pos == std::string_view::npos ? raw.npos : pos - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::optional<std::string_view> AttributeMap::get(std::string_view keyword) const {
  auto it = values_.find(keyword);
  if (it == values_.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::string AttributeMap::trimmed(std::string_view keyword) const {
  auto v = get(keyword);
  return v ? trim_dicom(*v) : std::string();
}

std::vector<std::string> AttributeMap::values(std::string_view keyword) const {
  auto v = get(keyword);
  return v ? split_multi(*v) : std::vector<std::string>{};
}

std::optional<long> AttributeMap::integer(std::string_view keyword) const {
  std::string t = trimmed(keyword);
  if (t.empty()) return std::nullopt;
  if (t.front() == '+') t.erase(0, 1);
  long v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

std::optional<double> AttributeMap::decimal(std::string_view keyword) const {
  std::string t = trimmed(keyword);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return std::nullopt;
  return v;
}

}  // namespace pacspull::core
