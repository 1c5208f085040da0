#pragma once
// Maps what the SCU calls saw (an Error from the association or the exchange, the final
// status and counts) onto a pipeline::Outcome.
#include <optional>
#include <string>

#include "pacspull/dicom/types.hpp"
#include "pacspull/pipeline/outcome.hpp"

namespace pacspull::dicom::detail {

// `final_status`: true when a final response arrived (then `status` and the counts decide).
pipeline::Outcome retrieve_outcome(const std::optional<Error>& error, bool final_status, uint16_t status,
                                   int completed, int failed, int warning, const std::string& what);

}  // namespace pacspull::dicom::detail
