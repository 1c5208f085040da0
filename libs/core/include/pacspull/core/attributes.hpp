#pragma once
// AttributeMap: DICOM attributes by keyword ("BodyPartExamined"), values as the raw
// bytes that arrived (not yet decoded from SpecificCharacterSet), multi-values joined
// by a backslash exactly as DICOM encodes them. The DICOM adapter fills it; pure
// logic reads it. Decoding to UTF-8 is the rules library's job, so the raw bytes stay
// available for the record.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pacspull::core {

class AttributeMap {
 public:
  AttributeMap() = default;
  AttributeMap(std::initializer_list<std::pair<const std::string, std::string>> init) : values_(init) {}

  void set(std::string keyword, std::string raw) { values_[std::move(keyword)] = std::move(raw); }
  bool has(std::string_view keyword) const { return values_.find(keyword) != values_.end(); }
  // The raw value, or nullopt when the attribute is absent. Present-but-empty is "".
  std::optional<std::string_view> get(std::string_view keyword) const;
  // The raw value with DICOM padding (trailing spaces / NULs, leading spaces) removed,
  // or "" when absent.
  std::string trimmed(std::string_view keyword) const;
  // The values of a multi-valued attribute, each trimmed ("CT\\PR" -> {"CT","PR"}).
  std::vector<std::string> values(std::string_view keyword) const;
  std::optional<long> integer(std::string_view keyword) const;
  std::optional<double> decimal(std::string_view keyword) const;

  const std::map<std::string, std::string, std::less<>>& all() const noexcept { return values_; }
  bool operator==(const AttributeMap&) const = default;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// Removes DICOM padding: leading/trailing spaces and trailing NULs.
std::string trim_dicom(std::string_view raw);
// Splits a backslash-separated multi-value and trims each part; empty input -> {}.
std::vector<std::string> split_multi(std::string_view raw);

}  // namespace pacspull::core
