#pragma once
// Text: the only way a string from outside (a PACS, a modality, a peer's error message,
// a CLI argument, a gRPC request) reaches the ledger, the bus or a log line.
//
// Invariant, held by every factory: the value is valid UTF-8 and contains no NUL (PostgreSQL
// text, jsonb and protobuf strings all refuse one or the other). There is no constructor
// from std::string: a value is made by decoding (`decode`, DICOM bytes under their declared
// SpecificCharacterSet, the same reading the filter uses), by repairing (`from_utf8`), by
// checking (`checked`, for input that must be refused when wrong) or by escaping (`ascii`,
// for UIDs, AE titles and code strings). Store rows take Text, so raw bytes cannot be
// written into a text column by construction. Thread-safe (a value type); never throws
// except std::bad_alloc.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pacspull/core/attributes.hpp"

namespace pacspull::rules {

class Text {
 public:
  Text() = default;

  // A DICOM text value (LO, SH, PN, LT, ST, UT, CS...) as it arrived: padding removed, read
  // with decode_to_utf8 (declared charset, else UTF-8, else GB18030, else Latin-1).
  static Text decode(std::string_view raw, std::string_view specific_character_set);
  // Text that ought to be UTF-8 already (our messages, library errors, ledger values):
  // each invalid byte and each NUL becomes U+FFFD.
  static Text from_utf8(std::string_view s);
  // Strict: nullopt unless `s` is valid UTF-8 without NUL (CLI arguments, gRPC strings,
  // configuration: the caller gives a clear error instead of repairing).
  static std::optional<Text> checked(std::string_view s);
  // An ASCII-only value (UI, AE, CS, DA, TM, IS): DICOM padding removed; every byte outside
  // printable ASCII, and '%' itself, written as %XX so distinct raw values stay distinct.
  static Text ascii(std::string_view raw);

  const std::string& str() const noexcept { return utf8_; }
  const char* c_str() const noexcept { return utf8_.c_str(); }
  bool empty() const noexcept { return utf8_.empty(); }
  size_t size() const noexcept { return utf8_.size(); }

  // Joining two Texts keeps the invariant.
  Text operator+(const Text& other) const { return Text(utf8_ + other.utf8_); }
  bool operator==(const Text&) const = default;
  auto operator<=>(const Text&) const = default;

 private:
  explicit Text(std::string utf8) : utf8_(std::move(utf8)) {}
  std::string utf8_;
};

// The forensic record of one attribute: the bytes as they arrived and how they were read.
// Kept beside the decoded value (ledger table text_raw) for `why` and for rule fixes.
struct RawText {
  std::string attribute;              // DICOM keyword
  std::string raw;                    // bytes as received (bytea)
  std::string specific_character_set; // the declared (0008,0005), as received (bytea)
  Text text;                          // what was stored
};

// The decoded value of one attribute of `a` under a's own SpecificCharacterSet ("" when absent).
Text decoded(const core::AttributeMap& a, std::string_view keyword);
// Forensic records for those of `keywords` whose raw value needs one.
std::vector<RawText> raw_texts(const core::AttributeMap& a, const std::vector<std::string_view>& keywords);

// For a document that must be UTF-8 (a YAML file): the 1-based line of the first invalid
// byte or NUL, or nullopt when the whole text is clean.
std::optional<size_t> first_bad_utf8_line(std::string_view document);

// True when `raw` needs a forensic record: it holds bytes outside printable ASCII, so
// charsets could disagree on it.
bool needs_raw_record(std::string_view raw) noexcept;

}  // namespace pacspull::rules
