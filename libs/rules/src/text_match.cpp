#include "text_match.hpp"

#include <cstdio>

namespace pacspull::rules::detail {

std::string upper_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

void Keywords::add(const std::vector<std::string>& words) {
  for (const auto& w : words) {
    if (w.empty()) continue;
    folded_.push_back(fold_case(w));
    original_.push_back(w);
  }
}

const std::string* Keywords::find_in(std::string_view folded_text) const {
  for (size_t i = 0; i < folded_.size(); ++i)
    if (folded_text.find(folded_[i]) != std::string_view::npos) return &original_[i];
  return nullptr;
}

std::optional<Match> match_any_reading(const std::vector<Reading>& readings, const Keywords& keywords) {
  for (const auto& r : readings) {
    if (const std::string* k = keywords.find_in(fold_case(r.text))) return Match{*k, r.charset, r.text};
  }
  return std::nullopt;
}

namespace {
bool alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
}  // namespace

bool contains_word(std::string_view text, std::string_view word) {
  if (word.empty()) return false;
  size_t pos = 0;
  while ((pos = text.find(word, pos)) != std::string_view::npos) {
    bool left = pos == 0 || !alnum(text[pos - 1]);
    size_t end = pos + word.size();
    bool right = end >= text.size() || !alnum(text[end]);
    if (left && right) return true;
    ++pos;
  }
  return false;
}

std::string format_mm(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  std::string s(buf);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace pacspull::rules::detail
