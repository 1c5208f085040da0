#pragma once
// Series-level filtering before the move: which series of a study to pull, from the
// series-level C-FIND answers, with the filter's own series rules (libs/rules).
//
// Integrity first: a series is left behind only for a reason the filter would reach on
// its first image too: its Modality is outside the enabled families, BodyPartExamined
// names another part, a scout count (< min_instances, the PACS's own count), or an
// excluded ImageType / SeriesDescription word. Thickness (believed SliceThickness, or
// the estimate from the count when the header's is empty or a lie) and kernel are final
// only when the PACS read an image header for the answer (ImageType answered, at series
// level as Orthanc does or from one image-level answer): then the filter will read the
// same header. An empty SliceThickness counts as the header's only when the PACS filled
// SliceThickness for another series of the study. Anything the query cannot see (empty BodyPartExamined with chest text only
// in ImageComments, a header the PACS does not give, contrast) keeps the series.
// When two or more CT series pass on full information (header answered, count known),
// only the one the filter's selection (rules::select_series) will pick moves: the others
// would never be handed on. A series not judged fully stays, since it might be picked. A study with a DX-family series moves whole (frontal and lateral views
// may sit in different series). When nothing would be left, every series having been
// judged on full information (each drop above is final), none_pass is set: the filter
// would find no series passing, so the finder settles the study unsupported without a
// move (Transition::FinderUnsupported) and records each series' reason as the filter would.
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
  // Every series dropped for a final reason (`dropped` holds them all): nothing can pass,
  // the study is unsupported without a move. whole_study stays true (a caller that
  // ignores none_pass moves the whole study, as before).
  bool none_pass = false;
  std::string reason;
};

// Whether the answer carries what the PACS read from an image header (ImageType, type 1
// in every CT image): then SliceThickness and ConvolutionKernel, even empty, are the header's.
bool header_answered(const core::AttributeMap& series);

// The keys of the finder's series-level C-FIND of a study: what the series rules read, the
// count, and (`header`) the image header keys a PACS that reads one answers (Orthanc).
core::AttributeMap series_query_keys(const std::string& study_uid, bool header = true);
// The keys of an image-level C-FIND of one series: its instances (the count of a PACS that
// gives none) and their header keys.
core::AttributeMap image_query_keys(const std::string& study_uid, const std::string& series_uid);
// Copies the header keys of the first image-level answer that has them into a series answer
// without them. Returns whether the images answered a header (nullopt: the series answer had
// one already, or no images to tell).
std::optional<bool> take_header(core::AttributeMap& series, const std::vector<core::AttributeMap>& images);

// `series`: one series-level answer each (SeriesInstanceUID, Modality, and whatever the
// PACS gave), with NumberOfSeriesRelatedInstances set from an image-level count when the
// PACS has none; `study`: the study-level answer (StudyDescription is a chest-text source).
SeriesChoice choose_series(const rules::RuleSet& rs, const std::vector<core::AttributeMap>& series,
                           const core::AttributeMap& study);

}  // namespace pacspull::pipeline
