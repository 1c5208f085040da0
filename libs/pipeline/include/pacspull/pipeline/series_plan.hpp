#pragma once
// Finder logic for PACS that give no study-level counts (or no ModalitiesInStudy):
//  - a study's series fingerprint (series UIDs + per-series counts) and its stability
//    over polls: unchanged over N polls and for a minimum age, not a blind fixed delay;
//  - which series to move (series-level filtering before the move; DX family: whole study);
//  - splitting a C-FIND that hit a result cap: by date, then time range, then modality,
//    until every part is under the cap.
// Pure: no I/O.
#include <optional>
#include <string>
#include <vector>

#include "pacspull/core/time.hpp"

namespace pacspull::pipeline {

struct SeriesInfo {
  std::string uid;
  std::string modality;
  std::optional<long> count;  // NumberOfSeriesRelatedInstances or image-level count
};

// Order-independent text of the series set: "uid=count;..." sorted by uid ("?" for no count).
std::string series_fingerprint(std::vector<SeriesInfo> series);
// Sum of the counts; nullopt when any series has none.
std::optional<long> total_count(const std::vector<SeriesInfo>& series);

struct FingerprintPolicy {
  int stable_polls = 1;       // polls that must see the same fingerprint after it was first seen
  core::Seconds min_age{0};   // time since the fingerprint last changed
};

struct FingerprintState {
  std::string fingerprint;  // last seen ("" = none yet)
  int unchanged_polls = 0;  // polls since it last changed that saw it unchanged
  core::Time since{};       // when it last changed
};

struct FingerprintStep {
  FingerprintState next;
  bool stable = false;
  std::string reason;  // "series fingerprint unchanged over 2 polls and 35 s (4 series, 120 instances)"
};

// One poll's observation of a study's series against what was seen before.
FingerprintStep observe_fingerprint(const std::optional<FingerprintState>& before, const std::string& fingerprint,
                                    const FingerprintPolicy& policy, core::Time now, const std::string& what);

// One part of a study-level query: StudyDate `date` (a single date or "from-to"),
// StudyTime seconds of day [from_s, to_s] (whole day when 0..86399), ModalitiesInStudy.
struct QueryPart {
  std::string date_from, date_to;  // YYYYMMDD
  int from_s = 0, to_s = 86399;
  std::string modality;            // "" = no modality key
  bool whole_day() const { return from_s == 0 && to_s == 86399; }
  std::string study_date() const { return date_from == date_to ? date_from : date_from + "-" + date_to; }
  std::string study_time() const;  // "" for the whole day, else "HHMMSS-HHMMSS"
  std::string describe() const;
  bool operator==(const QueryPart&) const = default;
};

// The parts a capped query is split into: a date range into single dates; a day into
// two halves of its time range (down to `min_seconds`); then, when the PACS filters on
// ModalitiesInStudy and the part has no modality key, one part per modality. Empty:
// cannot be split further (the caller reports it loudly: studies may be missing).
std::vector<QueryPart> split_capped(const QueryPart& part, bool can_split_modality,
                                    const std::vector<std::string>& modalities, int min_seconds = 60);

// Whether a query's answers mean it hit the cap: the PACS ended it early itself, our own
// guard cut it, or the answer count reached the known cap.
bool hit_cap(size_t answers, bool capped_by_peer, bool truncated, std::optional<long> cap);

}  // namespace pacspull::pipeline
