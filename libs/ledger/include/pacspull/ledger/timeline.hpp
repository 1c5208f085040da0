#pragma once
// Read-only operator queries: `pullctl why` and `pullctl status`.
#include <pqxx/pqxx>

#include <string>
#include <vector>

namespace pacspull::ledger {

struct TimelineEvent {
  std::string at, service, kind, detail, series_uid;
};

// A decoded attribute with the bytes the PACS sent (text_raw), for forensics.
struct RawTextRow {
  std::string series_uid, attribute, raw_hex, specific_character_set, decoded, source;
};

// A second copy of an instance with other content, kept aside (instance_conflicts).
struct ConflictRow {
  std::string sop_uid, series_uid, kept_path, conflict_path, calling_ae, at;
};

struct StudyTimeline {
  std::string study_uid, accession_number, patient_id, study_date, modalities, state, locations;
  int generation = 0;
  long pacs_instances = -1;  // -1: unknown
  long received_instances = 0;
  std::vector<TimelineEvent> events;
  std::vector<RawTextRow> raw_texts;
  std::vector<ConflictRow> conflicts;
};

struct StateCount {
  std::string state, modalities;
  long count = 0;
};

struct StudyListItem {
  std::string study_uid, accession_number, patient_id, modalities, state, pacs;
  long long exam_time = 0;  // epoch seconds, 0 unknown
  long pacs_instances = -1, received_instances = 0;
  int priority = 1;
};

// Studies by exam date (YYYYMMDD or ""), state ("" any) and modality ("" any, contains).
std::vector<StudyListItem> list_studies(pqxx::work& w, const std::string& study_date, const std::string& state,
                                        const std::string& modality, int limit);

// Studies matching a StudyInstanceUID, AccessionNumber or PatientID, newest first.
std::vector<StudyTimeline> why(pqxx::work& w, const std::string& key);
// Seconds since the oldest study of each state entered it (states with studies only).
std::vector<std::pair<std::string, double>> oldest_per_state(pqxx::work& w);
// Study counts per state (and modality), optionally for one exam date (YYYYMMDD).
std::vector<StateCount> state_summary(pqxx::work& w, const std::string& study_date);

}  // namespace pacspull::ledger
