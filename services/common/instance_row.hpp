#pragma once
// The ledger row of an instance placed in the store, built one way for every path that
// places one: the receiver's C-STORE SCP and the mover's C-GET (the checker and the filter
// cannot tell them apart). Text attributes are decoded (rules::Text) with their raw bytes kept.
#include <string>

#include "pacspull/dicom/store_scp.hpp"
#include "pacspull/ledger/receiver_store.hpp"

namespace pacspull::services {

// `receiver`: who placed it (a receiver's instance id, or "mover-cget").
ledger::InstanceRow instance_row(const dicom::StoreScp::Stored& s, const std::string& receiver);

}  // namespace pacspull::services
