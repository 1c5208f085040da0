#include <spdlog/spdlog.h>

#include "pacspull/dicom/get.hpp"
#include "pacspull/dicom/probe.hpp"
#include "pacspull/dicom/scu.hpp"

namespace pacspull::dicom {

pipeline::ProbeAnswers probe_answers(const ScuOptions& options, const Peer& peer, const ProbeOptions& probe) {
  pipeline::ProbeAnswers a;
  const std::string range = probe.date_from == probe.date_to ? probe.date_to : probe.date_from + "-" + probe.date_to;
  ScuOptions wide = options;
  wide.max_results = probe.max_answers;
  core::AttributeMap study_keys{{"StudyDate", range},
                                {"StudyTime", ""},
                                {"StudyInstanceUID", ""},
                                {"ModalitiesInStudy", ""},
                                {"NumberOfStudyRelatedInstances", ""},
                                {"NumberOfStudyRelatedSeries", ""},
                                {"TimezoneOffsetFromUTC", ""},
                                {"SpecificCharacterSet", ""}};
  FindResult studies = find(wide, peer, QueryLevel::Study, study_keys);
  a.studies = studies.matches;
  a.studies_capped_by_peer = studies.ended_by_peer;
  a.studies_truncated = studies.truncated;
  a.studies_failed = studies.error.has_value();
  if (a.studies_failed || a.studies.empty()) return a;

  // A modality no study has ("ZZ" is no DICOM modality): a PACS that filters answers nothing.
  core::AttributeMap unmatched = study_keys;
  unmatched.set("ModalitiesInStudy", "ZZ");
  FindResult none = find(wide, peer, QueryLevel::Study, unmatched);
  if (!none.error) a.unmatched_modality_answers = none.matches.size();

  // Series level of the first study with a usable UID.
  std::string study_uid;
  for (const auto& m : a.studies) {
    std::string uid = m.trimmed("StudyInstanceUID");
    if (!uid.empty() && uid.find(' ') == std::string::npos) {
      study_uid = uid;
      break;
    }
  }
  if (study_uid.empty()) return a;
  a.series_run = true;
  FindResult series = find(options, peer, QueryLevel::Series,
                           {{"StudyInstanceUID", study_uid},
                            {"SeriesInstanceUID", ""},
                            {"Modality", ""},
                            {"SeriesNumber", ""},
                            {"SeriesDescription", ""},
                            {"BodyPartExamined", ""},
                            {"NumberOfSeriesRelatedInstances", ""},
                            {"SpecificCharacterSet", ""}});
  a.series = series.matches;
  a.series_failed = series.error.has_value();
  if (a.series_failed || a.series.empty()) return a;
  std::string series_uid = a.series.front().trimmed("SeriesInstanceUID");
  if (series_uid.empty()) return a;
  a.images_run = true;
  FindResult images = find(options, peer, QueryLevel::Image,
                           {{"StudyInstanceUID", study_uid}, {"SeriesInstanceUID", series_uid}, {"SOPInstanceUID", ""}});
  a.images = images.matches;
  a.images_failed = images.error.has_value();
  if (a.images_failed) return a;
  // C-GET of one listed instance, not stored: nothing reaches the store or the ledger.
  std::string sop;
  for (const auto& m : a.images)
    if (sop = m.trimmed("SOPInstanceUID"); !sop.empty()) break;
  if (sop.empty()) return a;
  dicom::HeaderResult got =
      get_header(options, peer, core::StudyUid(study_uid), core::SeriesUid(series_uid), core::SopInstanceUid(sop));
  // No log line here: assess_probe's notes say what the C-GET saw (pullctl prints them).
  a.get = pipeline::ProbeAnswers::GetTry{sop, got.header.has_value(), got.get.outcome, got.bytes};
  return a;
}

}  // namespace pacspull::dicom
