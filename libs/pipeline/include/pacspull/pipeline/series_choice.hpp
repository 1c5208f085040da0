#pragma once
// Series-level filtering before the move: which series of a study to pull, from the
// series-level C-FIND answers, with the filter's own series rules (libs/rules).
//
// Integrity first: a series is left behind only for a reason the filter would reach on
// its first image too: its Modality is outside the enabled families, BodyPartExamined
// names another part, a scout count (< min_instances, the PACS's own count), or an
// excluded ImageType / SeriesDescription word. Anything the query cannot see (empty
// BodyPartExamined with chest text only in ImageComments, thickness, contrast, kernel)
// keeps the series. A study with a DX-family series moves whole (frontal and lateral views
// may sit in different series). When nothing would be left, the study moves whole and
// the filter decides (and logs why), so the ledger tells the usual story.
// Pure: no I/O.
#include <optional>
#include <string>
#include <vector>

#include "pacspull/core/attributes.hpp"
#include "pacspull/rules/rules.hpp"

namespace pacspull::pipeline {

struct SeriesChoice {
  bool whole_study = true;
  std::vector<std::string> move;                             // series to move when !whole_study
  std::vector<std::pair<std::string, std::string>> dropped;  // series uid, reason
  std::optional<long> instances;                             // PACS count of what moves, when known
  std::string reason;
};

// `series`: one series-level answer each (SeriesInstanceUID, Modality, and whatever the
// PACS gave), with NumberOfSeriesRelatedInstances set from an image-level count when the
// PACS has none; `study`: the study-level answer (StudyDescription is a chest-text source).
SeriesChoice choose_series(const rules::RuleSet& rs, const std::vector<core::AttributeMap>& series,
                           const core::AttributeMap& study);

}  // namespace pacspull::pipeline
