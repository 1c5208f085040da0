#pragma once
// The one place the study state crosses into protobuf: pacspull.common.v1.StudyState <->
// pipeline::StudyState (whose names are the ledger's and the CLI's; pipeline/state.hpp).
#include <optional>
#include <string_view>

#include "pacspull/common/v1/common.pb.h"
#include "pacspull/pipeline/state.hpp"

namespace pacspull::services {

common::v1::StudyState to_proto(pipeline::StudyState s);
// nullopt for STUDY_STATE_UNSPECIFIED (no filter) and values this build does not know.
std::optional<pipeline::StudyState> from_proto(common::v1::StudyState s);
// The CLI's and the ledger's name of a proto state ("" for unspecified or unknown).
std::string_view name_of(common::v1::StudyState s);

}  // namespace pacspull::services
