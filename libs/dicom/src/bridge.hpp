#pragma once
// The one converter between DCMTK datasets and our AttributeMap (cf. Orthanc's
// FromDcmtkBridge). Nothing else in pacspull looks inside a DcmItem.
#include <string>

#include "pacspull/core/attributes.hpp"

class DcmItem;

namespace pacspull::dicom::detail {

// Top-level, non-sequence, non-bulk, public elements -> keyword -> raw value (see read.hpp).
core::AttributeMap to_attributes(DcmItem& item);

// keyword -> value into `item` (empty value = empty element, i.e. a return key).
// Returns an error message for an unknown keyword or a value DCMTK refuses, else "".
std::string put_attributes(const core::AttributeMap& attributes, DcmItem& item);

}  // namespace pacspull::dicom::detail
