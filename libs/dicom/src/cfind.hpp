#pragma once
// One C-FIND exchange on an open association: the request, the pending matches handed to the
// caller one by one, C-CANCEL when the caller has enough, the final status. Shared by the
// Query/Retrieve find (scu.cpp) and the Modality Worklist find (worklist.cpp), which differ
// only in the SOP class, the identifier and what they keep of a match.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "association.hpp"
#include "pacspull/dicom/types.hpp"

class DcmDataset;

namespace pacspull::dicom::detail {

enum class MatchVerdict { Continue, Cancel };

struct FindExchange {
  std::optional<Error> error;   // network, protocol or a final status that is not success
  bool cancelled = false;       // the caller asked to stop and C-CANCEL was sent
  bool ended_by_peer = false;   // the peer ended the answers itself (0xFE00 without our cancel)
  bool flooded = false;         // the peer kept answering after our C-CANCEL; the caller aborts
};

// Sends the C-FIND request for `sop_class` with `identifier` and reads every response, each
// bounded by `timeout_s`. `on_match` sees every pending match until it answers Cancel; after
// that matches are dropped, and more than `flood_guard` of them end the exchange (flooded, with
// an error). The association is left open: the caller releases it, or aborts it on an error.
FindExchange run_find(ScuAssociation& assoc, const char* sop_class, DcmDataset& identifier, int timeout_s,
                      size_t flood_guard, const std::string& what,
                      const std::function<MatchVerdict(DcmDataset&)>& on_match);

}  // namespace pacspull::dicom::detail
