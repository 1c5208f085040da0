#pragma once
// The capability probe of one PACS (issue 9 part 1): a handful of C-FINDs whose answers
// say which optional keys it answers at study, series and image level, whether it
// filters on ModalitiesInStudy, and whether it caps its answers; and a C-GET of one
// instance it lists at image level, not stored (nothing stored, nothing in the ledger):
// whether C-GET works. The verdict is pipeline::assess_probe's; this file only asks.
#include <string>

#include "pacspull/dicom/types.hpp"
#include "pacspull/pipeline/capabilities.hpp"

namespace pacspull::dicom {

struct ProbeOptions {
  std::string date_from, date_to;  // YYYYMMDD: the window the study queries look at
  size_t max_answers = 2000;       // our own guard on the (wide) study query
};

// Runs the probe's queries and the C-GET; network failures land in the answers' *_failed
// flags and the C-GET's outcome.
pipeline::ProbeAnswers probe_answers(const ScuOptions& options, const Peer& peer, const ProbeOptions& probe);

}  // namespace pacspull::dicom
