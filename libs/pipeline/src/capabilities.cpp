#include "pacspull/pipeline/capabilities.hpp"

#include <algorithm>

namespace pacspull::pipeline {
namespace {

template <typename T>
void pin(std::optional<T>& out, const std::optional<T>& p) {
  if (p) out = p;
}

// Whether any answer carries a non-empty value for `keyword`.
bool any_value(const std::vector<core::AttributeMap>& answers, const char* keyword) {
  for (const auto& m : answers)
    if (!m.trimmed(keyword).empty()) return true;
  return false;
}

// C-GET: yes when the instance arrived; unknown when the exchange broke on the network (or
// the PACS was busy): that says nothing of C-GET; no for every answer of the PACS itself
// (association or presentation context refused, a failure status, success with nothing
// sent: dcmqrscp without a role-selection profile).
void assess_get(const ProbeAnswers& a, PacsCapabilities& c) {
  if (!a.get) {
    if (a.images_run) c.notes.push_back("C-GET not tried: no instance listed at image level");
    return;
  }
  const auto& g = *a.get;
  if (g.arrived) {
    c.c_get = true;
    c.notes.push_back("C-GET of one instance (not stored): it arrived (" + std::to_string(g.bytes) + " bytes)");
    return;
  }
  switch (g.outcome.cls) {
    case OutcomeClass::Unreachable:
    case OutcomeClass::NetworkError:
    case OutcomeClass::Busy:
      c.notes.push_back("C-GET of one instance could not be judged: " + describe(g.outcome));
      return;
    default:
      c.c_get = false;
      c.notes.push_back("C-GET of one instance refused: " + describe(g.outcome));
  }
}

}  // namespace

std::string tri(const std::optional<bool>& v) { return !v ? "unknown" : *v ? "yes" : "no"; }

PacsCapabilities merge_pins(const PacsCapabilities& probed, const PacsCapabilities& pins) {
  PacsCapabilities c = probed;
  pin(c.study_modalities, pins.study_modalities);
  pin(c.study_counts, pins.study_counts);
  pin(c.filters_modalities, pins.filters_modalities);
  pin(c.series_modality, pins.series_modality);
  pin(c.series_counts, pins.series_counts);
  pin(c.series_body_part, pins.series_body_part);
  pin(c.series_description, pins.series_description);
  pin(c.image_level, pins.image_level);
  pin(c.result_cap, pins.result_cap);
  pin(c.c_get, pins.c_get);
  pin(c.series_move, pins.series_move);
  pin(c.timezone_offset, pins.timezone_offset);
  for (const auto& n : pins.notes) c.notes.push_back(n);
  return c;
}

PacsCapabilities assess_probe(const ProbeAnswers& a) {
  PacsCapabilities c;
  if (a.studies_failed) {
    c.notes.push_back("study-level C-FIND failed: nothing could be judged");
    return c;
  }
  if (a.studies_capped_by_peer) {
    c.result_cap = static_cast<long>(a.studies.size());
    c.notes.push_back("the PACS ended the study query itself after " + std::to_string(a.studies.size()) +
                      " answers (0xFE00): it caps C-FIND results");
  } else if (!a.studies_truncated) {
    c.result_cap = 0;
  } else {
    c.notes.push_back("the study query reached our own answer limit; a cap above it is not ruled out");
  }
  if (a.studies.empty()) {
    c.notes.push_back("no study in the probe window: optional keys cannot be judged");
    return c;
  }
  // An optional key the PACS supports comes back filled; one it does not is dropped or
  // comes back empty on every answer.
  c.study_modalities = any_value(a.studies, "ModalitiesInStudy");
  c.study_counts = any_value(a.studies, "NumberOfStudyRelatedInstances");
  if (auto tz = std::find_if(a.studies.begin(), a.studies.end(),
                             [](const core::AttributeMap& m) { return !m.trimmed("TimezoneOffsetFromUTC").empty(); });
      tz != a.studies.end())
    c.timezone_offset = tz->trimmed("TimezoneOffsetFromUTC");
  if (a.unmatched_modality_answers) {
    // A modality no study has must match nothing; answers mean the key is ignored.
    c.filters_modalities = *a.unmatched_modality_answers == 0;
    if (!*c.filters_modalities)
      c.notes.push_back("ModalitiesInStudy as a matching key is ignored: " +
                        std::to_string(*a.unmatched_modality_answers) + " studies matched a modality none has");
  }
  if (a.series_run) {
    if (a.series_failed) {
      c.series_modality = false;
      c.notes.push_back("series-level C-FIND failed");
    } else if (!a.series.empty()) {
      c.series_modality = any_value(a.series, "Modality");
      c.series_counts = any_value(a.series, "NumberOfSeriesRelatedInstances");
      c.series_body_part = any_value(a.series, "BodyPartExamined");
      c.series_description = any_value(a.series, "SeriesDescription");
    } else {
      c.notes.push_back("series-level C-FIND of a listed study answered nothing");
      c.series_modality = false;
    }
  }
  if (a.images_run) c.image_level = !a.images_failed && any_value(a.images, "SOPInstanceUID");
  assess_get(a, c);
  return c;
}

bool series_answers_good(const PacsCapabilities& c) {
  return c.series_modality.value_or(false) && c.series_counts.value_or(false) &&
         (c.series_body_part.value_or(false) || c.series_description.value_or(false));
}

QueryPlan plan_queries(const PacsCapabilities& c, SeriesFilterMode series_filter) {
  QueryPlan p;
  const bool has_modalities = c.study_modalities.value_or(true);
  const bool capped = c.result_cap && *c.result_cap > 0;
  // A capped PACS may apply its cap before matching ModalitiesInStudy (Orthanc's
  // LimitFindResults does: 2 CT answers, Success, while more CT studies exist), so its
  // queries leave the modality key out and are split by time until under the cap.
  p.can_split_modality = has_modalities && c.filters_modalities.value_or(true);
  p.modality_queries = p.can_split_modality && !capped;
  const bool series_ok = c.series_modality.value_or(false);
  switch (series_filter) {
    case SeriesFilterMode::On: p.series_filter = series_ok; break;
    case SeriesFilterMode::Off: p.series_filter = false; break;
    case SeriesFilterMode::Auto:
      // On where series queries are needed anyway (no ModalitiesInStudy at study level), and
      // where the PACS answers series queries well: one series-level C-FIND per stable
      // study then leaves behind what the filter would drop (measured on Orthanc: 1.24x ->
      // 1.10x bytes pulled over bytes dispatched). Off only where the series answers are poor.
      p.series_filter = series_ok && (!has_modalities || series_answers_good(c));
      break;
  }
  p.series_queries = !has_modalities || !c.study_counts.value_or(true) || p.series_filter;
  p.image_counts = p.series_queries && !c.series_counts.value_or(false) && c.image_level.value_or(false);
  if (c.result_cap && *c.result_cap > 0) p.cap = c.result_cap;
  return p;
}

std::string QueryPlan::describe() const {
  std::string s = modality_queries ? "study-level C-FIND per modality (ModalitiesInStudy)"
                                   : "study-level C-FIND of the whole window, modalities checked here";
  if (!modality_queries && can_split_modality) s += " (the PACS caps answers, maybe before matching the modality)";
  if (series_queries) s += "; series-level C-FIND per study for modalities and counts";
  if (image_counts) s += "; image-level C-FIND per series for counts";
  if (series_filter) s += "; series filtered before the move";
  if (cap) s += "; queries split below the cap of " + std::to_string(*cap);
  return s;
}

}  // namespace pacspull::pipeline
