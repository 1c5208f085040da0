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

// Sampled headers (where the PACS answers no image header at series nor image level, and
// C-GET works): the finder C-GETs ONE instance of a CT series (not stored) and merges its
// header into the series answer; choose_series then judges it as it judges Orthanc's.
//
// A sample costs one instance: only a series of at least this many instances is sampled, so
// a sample is at most a tenth of what it may save (the scout rule's own threshold too).
constexpr long kSampleMinInstances = 10;

// Whether one CT series' verdict before the move could change with its image header: CT
// family, no header answered, its count known and >= min_instances, and not already left
// behind for a final reason without it (a scout by count, another body part, an excluded
// description word). `study` as for choose_series.
bool wants_sample(const rules::RuleSet& rs, const core::AttributeMap& series, const core::AttributeMap& study,
                  long min_instances = kSampleMinInstances);

// Which instance of a series to sample, from its image-level answers: the one with the middle
// InstanceNumber when the answers carry it, else the first listed; nullopt when none lists a
// SOPInstanceUID.
std::optional<std::string> sample_instance(const std::vector<core::AttributeMap>& images);

// Merges a sampled instance header into a series answer: ImageType, SliceThickness and
// ConvolutionKernel always (the header's, even empty: the filter reads the same);
// SeriesDescription, BodyPartExamined and ProtocolName when the answer lacks them. Texts keep
// their raw bytes under the instance's SpecificCharacterSet; when the answer holds non-ASCII
// text of its own under another character set, every text is converted to UTF-8
// (ISO_IR 192) under the set it came with, so each reads as it was encoded.
void merge_sample(core::AttributeMap& series, const core::AttributeMap& header);

// `series`: one series-level answer each (SeriesInstanceUID, Modality, and whatever the
// PACS gave), with NumberOfSeriesRelatedInstances set from an image-level count when the
// PACS has none; `study`: the study-level answer (StudyDescription is a chest-text source).
SeriesChoice choose_series(const rules::RuleSet& rs, const std::vector<core::AttributeMap>& series,
                           const core::AttributeMap& study);

}  // namespace pacspull::pipeline
