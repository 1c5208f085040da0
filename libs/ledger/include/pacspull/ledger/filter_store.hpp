#pragma once
// Ledger operations of the filter.
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "pacspull/ledger/checker_store.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::ledger {

struct SeriesToFilter {
  std::string series_uid, first_instance_path, modality;
  long instance_count = 0;
  std::optional<int> verdict_generation;
};

struct StudyToFilter {
  std::string study_uid, state;
  int generation = 0, filtered_generation = 0;
  std::vector<SeriesToFilter> series;
};

struct VerdictRow {
  bool pass = false;
  std::string rule, rule_version, family;  // ours
  rules::Text reason, looked_at_json, kernel;  // carry decoded DICOM text
  std::optional<double> slice_thickness;
};

std::optional<StudyToFilter> study_to_filter(pqxx::work& w, const std::string& study_uid);
void record_verdict(pqxx::work& w, const std::string& study_uid, const std::string& series_uid, int generation,
                    const VerdictRow& v);
// Marks the generation filtered (only if the study is still received at it).
bool mark_filtered(pqxx::work& w, const std::string& study_uid, int generation, const std::string& summary);
// Filtered studies the dispatcher has not settled.
std::vector<ReceivedWork> stuck_filtered(pqxx::work& w, std::chrono::seconds older_than);
struct SeriesForReplay {
  std::string study_uid, series_uid, modality, first_instance_path, verdict, verdict_reason;
  long instance_count = 0;
};
// Series received in the last `days` days that have a verdict.
std::vector<SeriesForReplay> series_for_replay(pqxx::work& w, int days);
std::optional<std::string> series_first_path(pqxx::work& w, const std::string& series_uid);

}  // namespace pacspull::ledger
