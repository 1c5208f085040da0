#pragma once
// Internal helpers shared by the rule sources: keyword matching over every plausible
// reading of a raw value.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pacspull/rules/charset.hpp"

namespace pacspull::rules::detail {

std::string upper_ascii(std::string_view s);

// Keywords folded once per evaluation (fold_case), empty ones dropped.
class Keywords {
 public:
  Keywords() = default;
  void add(const std::vector<std::string>& words);
  bool empty() const noexcept { return folded_.empty(); }
  // The first keyword (original spelling) contained in folded text, or nullptr.
  const std::string* find_in(std::string_view folded_text) const;

 private:
  std::vector<std::string> folded_;
  std::vector<std::string> original_;
};

struct Match {
  std::string keyword;  // as configured
  std::string reading;  // Reading::charset that matched
  std::string text;     // that reading's text
};

// Matches keywords against every plausible reading of `raw` (already trimmed).
std::optional<Match> match_any_reading(const std::vector<Reading>& readings, const Keywords& keywords);

// True when `word` (folded) occurs in folded text bounded by non-alphanumeric ASCII.
bool contains_word(std::string_view folded_text, std::string_view folded_word);

// "8", "1.25", "0.625": shortest form that round-trips to 3 decimals.
std::string format_mm(double v);

}  // namespace pacspull::rules::detail
