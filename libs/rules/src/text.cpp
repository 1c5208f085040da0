#include "pacspull/rules/text.hpp"

#include <cstdio>

#include "pacspull/core/attributes.hpp"
#include "pacspull/rules/charset.hpp"

namespace pacspull::rules {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Repairs `s` into the invariant: valid UTF-8 (each bad byte -> U+FFFD), no NUL.
std::string repair(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b == 0) {
      out.append(kReplacement);
      ++i;
      continue;
    }
    const size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    if (len > 0 && i + len <= s.size() && is_valid_utf8(s.substr(i, len))) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append(kReplacement);
      ++i;
    }
  }
  return out;
}

bool clean(std::string_view s) noexcept { return s.find('\0') == std::string_view::npos && is_valid_utf8(s); }

}  // namespace

Text Text::decode(std::string_view raw, std::string_view specific_character_set) {
  const std::string trimmed = core::trim_dicom(raw);
  std::string text = decode_to_utf8(trimmed, core::trim_dicom(specific_character_set));
  return Text(clean(text) ? std::move(text) : repair(text));
}

Text Text::from_utf8(std::string_view s) { return Text(clean(s) ? std::string(s) : repair(s)); }

std::optional<Text> Text::checked(std::string_view s) {
  if (!clean(s)) return std::nullopt;
  return Text(std::string(s));
}

Text Text::ascii(std::string_view raw) {
  const std::string trimmed = core::trim_dicom(raw);
  std::string out;
  out.reserve(trimmed.size());
  for (char c : trimmed) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7F && c != '%') {
      out.push_back(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", b);
      out.append(hex);
    }
  }
  return Text(std::move(out));
}

Text decoded(const core::AttributeMap& a, std::string_view keyword) {
  return Text::decode(a.get(keyword).value_or(""), a.get("SpecificCharacterSet").value_or(""));
}

std::vector<RawText> raw_texts(const core::AttributeMap& a, const std::vector<std::string_view>& keywords) {
  std::vector<RawText> out;
  const std::string charset(a.get("SpecificCharacterSet").value_or(""));
  for (std::string_view k : keywords) {
    auto raw = a.get(k);
    if (!raw || !needs_raw_record(*raw)) continue;
    out.push_back({std::string(k), std::string(*raw), charset, decoded(a, k)});
  }
  return out;
}

std::optional<size_t> first_bad_utf8_line(std::string_view document) {
  if (clean(document)) return std::nullopt;
  size_t line = 1, start = 0;
  for (size_t i = 0; i <= document.size(); ++i) {
    if (i == document.size() || document[i] == '\n') {
      if (!clean(document.substr(start, i - start))) return line;
      ++line;
      start = i + 1;
    }
  }
  return line;
}

bool needs_raw_record(std::string_view raw) noexcept {
  for (char c : raw) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x7F || (b < 0x20 && b != 0)) return true;
  }
  return false;
}

}  // namespace pacspull::rules
