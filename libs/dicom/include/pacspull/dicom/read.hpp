#pragma once
// Reading the attributes of a DICOM file (Part 10, or a bare dataset carrying SOP UIDs).
#include <filesystem>
#include <optional>
#include <string>

#include "pacspull/core/attributes.hpp"

namespace pacspull::dicom {

struct ReadResult {
  std::optional<core::AttributeMap> attributes;
  std::string error;  // set when attributes is nullopt
};

// Keyword -> raw value bytes exactly as stored (no charset conversion, padding kept,
// multi-values joined by '\\'), for every top-level, non-sequence, non-bulk element of the
// dataset, SpecificCharacterSet included. Binary numbers (US, UL, SS, SL, FL, FD, AT, SV, UV)
// are rendered as decimal text; bulk binary VRs (OB, OW, OF, OD, OL, OV, UN) and private
// tags are left out. Parsing stops before PixelData, so a file whose pixel data is cut short
// still reads. Unreadable, non-DICOM or malformed files give nullopt and a message; never
// throws. Thread-safe.
ReadResult read_attributes(const std::filesystem::path& file);

}  // namespace pacspull::dicom
