#pragma once
// What a PACS can do for the finder, and how the finder queries it as a result.
//
// Field rule: PACS brands bend Query/Retrieve differently. A cheap PACS (and DCMTK's
// dcmqrscp) answers no ModalitiesInStudy and no counts at study level; others cap the
// number of C-FIND answers. The capabilities are probed (libs/dicom probe), stored in the
// ledger, may be pinned by the site, and decide the query plan: filter on
// ModalitiesInStudy at the PACS, or learn modalities and counts from series (and image)
// level C-FIND; whether to pre-filter series before the move.
//
// Pure: no I/O. The probe's raw answers come in as attribute maps.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pacspull/core/attributes.hpp"
#include "pacspull/pipeline/outcome.hpp"

namespace pacspull::pipeline {

// Each capability is unknown (nullopt: not probed, or the probe could not tell), yes or no.
struct PacsCapabilities {
  std::optional<bool> study_modalities;    // answers ModalitiesInStudy at study level
  std::optional<bool> study_counts;        // answers NumberOfStudyRelatedInstances
  std::optional<bool> filters_modalities;  // a ModalitiesInStudy matching key narrows the answers
  std::optional<bool> series_modality;     // answers Modality at series level
  std::optional<bool> series_counts;       // answers NumberOfSeriesRelatedInstances
  std::optional<bool> series_body_part;    // answers BodyPartExamined at series level
  std::optional<bool> series_description;  // answers SeriesDescription at series level
  std::optional<bool> image_level;         // image-level C-FIND lists SOP Instance UIDs
  // C-FIND answer cap: nullopt unknown, 0 none seen, n: the PACS stops after n answers.
  std::optional<long> result_cap;
  // C-GET works: the probe C-GETs one listed instance, not stored (yes: it arrived; no: the
  // PACS refused it or sent nothing; unknown: network error, or nothing to try).
  std::optional<bool> c_get;
  std::optional<bool> series_move;   // series-level C-MOVE works (idem)
  std::optional<std::string> timezone_offset;  // TimezoneOffsetFromUTC, "+0800", if the PACS tells
  std::vector<std::string> notes;    // what the probe saw, for `pullctl pacs probe`

  bool operator==(const PacsCapabilities&) const = default;
};

// `pins` (the site's config) override `probed` field by field; notes are concatenated.
PacsCapabilities merge_pins(const PacsCapabilities& probed, const PacsCapabilities& pins);

// The probe's raw answers (each query's matches and whether the PACS ended it early).
struct ProbeAnswers {
  // Study level, date window (wide), every optional key as a return key, no modality key.
  std::vector<core::AttributeMap> studies;
  bool studies_capped_by_peer = false;  // the PACS ended the query with 0xFE00 on its own
  bool studies_truncated = false;       // our own guard (max answers) cut it
  bool studies_failed = false;
  // Same window with ModalitiesInStudy = a modality no study has (nullopt: not run).
  std::optional<size_t> unmatched_modality_answers;
  // Series level of one study (the study with the most answers we could pick).
  std::vector<core::AttributeMap> series;
  bool series_failed = false;
  bool series_run = false;
  // Image level of one series of that study.
  std::vector<core::AttributeMap> images;
  bool images_failed = false;
  bool images_run = false;
  // C-GET of one of those instances, not stored (nullopt: not tried, nothing listed).
  struct GetTry {
    std::string instance;  // SOP Instance UID asked for
    bool arrived = false;  // the instance came back on our association
    Outcome outcome;       // the adapter's classification of the exchange
    uint64_t bytes = 0;    // bytes that came over the wire
  };
  std::optional<GetTry> get;
};

PacsCapabilities assess_probe(const ProbeAnswers& a);

// Site option for series-level filtering before the move.
enum class SeriesFilterMode { Auto, On, Off };

// How the finder queries one PACS.
struct QueryPlan {
  bool modality_queries = true;   // one study-level query per modality (ModalitiesInStudy matching)
  bool can_split_modality = true; // the PACS matches ModalitiesInStudy: a last split by modality
  bool series_queries = false;    // series-level C-FIND per study: modalities and counts
  bool image_counts = false;      // image-level C-FIND per series: counts the PACS does not give
  bool series_filter = false;     // pre-filter series, move only candidates (never DX)
  std::optional<long> cap;        // split queries that reach it
  std::string describe() const;
};

// Whether the PACS answers series queries well enough to choose series before the move:
// Modality and NumberOfSeriesRelatedInstances at series level, and BodyPartExamined or
// SeriesDescription (known to be answered, never assumed when not probed).
bool series_answers_good(const PacsCapabilities& c);

// Series filtering: On uses it wherever the PACS answers series Modality; Auto where series
// queries are needed anyway (no ModalitiesInStudy) or series_answers_good(); Off never.
QueryPlan plan_queries(const PacsCapabilities& c, SeriesFilterMode series_filter);

// Text of a tri-state for logs and pullctl: "yes", "no", "unknown".
std::string tri(const std::optional<bool>& v);

}  // namespace pacspull::pipeline
