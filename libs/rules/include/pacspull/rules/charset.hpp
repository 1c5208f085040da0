#pragma once
// Text decoding for DICOM string values whose SpecificCharacterSet may be missing or
// wrong. Pure C++ (no iconv/ICU): UTF-8, ISO 646, ISO 8859-1..9 (ISO_IR 100..148), TIS-620,
// GB18030/GBK, ISO 2022 (IR 6/13/87/58/149 and the 8859 parts), windows-1251, KOI8-R.
//
// Contract: nothing here throws or loops on bad input; an undecodable byte becomes
// U+FFFD and the reading is marked lossy. All functions are thread-safe (the tables
// are built once, on first use, by a function-local static).
#include <string>
#include <string_view>
#include <vector>

namespace pacspull::rules {

// One way of turning raw bytes into UTF-8.
struct Reading {
  std::string charset;  // how it was read, e.g. "ISO_IR 100", "UTF-8", "GBK", "GBK via Latin-1 mojibake"
  std::string text;     // UTF-8
  bool lossless = true;  // false when some bytes could not be decoded (U+FFFD inserted)
};

// The best single reading of `raw` (DICOM padding not removed) under the declared
// SpecificCharacterSet value (possibly multi-valued "\\"-separated, possibly empty).
// Policy: the declared charset when it decodes the bytes cleanly (except that valid
// multi-byte UTF-8 beats a declared single-byte charset); otherwise UTF-8, then
// GB18030, then the lossy declared reading. Never throws.
std::string decode_to_utf8(std::string_view raw, std::string_view specific_character_set);

// Every plausible reading, best first, duplicates removed: declared charset, UTF-8
// when valid, GB18030/GBK when it decodes, windows-1251 for high bytes, and the
// mojibake reversals (text that is valid UTF-8 with all code points <= 0xFF is turned
// back into Latin-1 bytes and read as GBK / windows-1251). Pure ASCII yields one reading.
std::vector<Reading> plausible_readings(std::string_view raw, std::string_view specific_character_set);

// Single decoders, exposed for tests and for callers that know the charset.
// `ok` (when given) is set to false if anything was replaced by U+FFFD.
std::string decode_charset(std::string_view raw, std::string_view specific_character_set, bool* ok = nullptr);
bool is_valid_utf8(std::string_view s) noexcept;
std::string decode_gb18030(std::string_view raw, bool* ok = nullptr);
std::string decode_win1251(std::string_view raw, bool* ok = nullptr);
std::string decode_koi8r(std::string_view raw, bool* ok = nullptr);
std::string decode_latin1(std::string_view raw);

// Case folding used for keyword matching: ASCII, Latin-1 letters and basic Cyrillic
// (А-Я, Ѐ-Џ) map to lower case; everything else is unchanged. Input must be UTF-8.
std::string fold_case(std::string_view utf8);

}  // namespace pacspull::rules
