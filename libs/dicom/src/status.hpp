#pragma once
// Classification of DCMTK conditions and DIMSE statuses into our Error values.
#include <cstdint>
#include <string>
#include <string_view>

#include "pacspull/dicom/types.hpp"

class OFCondition;

namespace pacspull::dicom::detail {

// A network-level failure (connect, timeout, abort, protocol): always Retryable.
Error network_error(std::string_view what, const OFCondition& cond);
// A final C-FIND / C-MOVE / C-STORE status that is not Success: Retryable for
// out-of-resources (A7xx), "unable to process" (Cxxx) and cancel; Permanent for a refused
// move destination (A801) and for identifier/SOP-class mismatches (A9xx) and the rest.
Error status_error(std::string_view what, uint16_t status);
std::string hex_status(uint16_t status);

}  // namespace pacspull::dicom::detail
