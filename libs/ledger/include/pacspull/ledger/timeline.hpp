#pragma once
// Operator queries: `pullctl why`, `status`, `parked` and `audit`. All read-only except
// the parked-message pair (lock_parked / delete_parked), which `parked retry` runs in one
// transaction around the re-publish.
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "pacspull/pipeline/progress.hpp"

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

// A RIS order naming the study's AccessionNumber (issue 9 part 9), merged from its
// scheduled procedure steps (ris_orders).
// A procedure step the RIS cancelled (CANCELED / DISCONTINUED, migration 16): kept, not merged.
struct RisCancelledStepView {
  std::string step_key, status, body_parts, priority;
  std::string cancelled_at;  // UTC "YYYY-MM-DD HH:MM:SS": when the finder first saw it cancelled
};

struct RisOrderView {
  std::string ris, accession, priority, body_parts, scheduled_date;
  std::string scheduled_at;  // UTC "YYYY-MM-DD HH:MM:SS", "" when the RIS gave no time
  int steps = 1;             // steps merged (the cancelled ones not counted)
  bool urgent = false;
  std::vector<RisCancelledStepView> cancelled_steps;
};

struct StudyTimeline {
  std::string study_uid, accession_number, patient_id, study_date, modalities, state, locations;
  int generation = 0;
  long pacs_instances = -1;  // -1: unknown
  long received_instances = 0;
  int priority = 1;  // studies.priority (2: an urgent RIS order, 3: a manual pull)
  std::vector<TimelineEvent> events;
  std::vector<RawTextRow> raw_texts;
  std::vector<ConflictRow> conflicts;
  std::vector<RisOrderView> ris_orders;
  // Steps of the patient's other orders scheduled on the study date (read only in
  // rules.ris.tolerance mode), " | "-joined body parts each.
  std::vector<std::string> ris_day_body_parts;
  // What the filter's RIS rule decided for the last filtered generation: "filtered" (a
  // series failed on rule "ris"), "passed" (it looked at the RIS body parts and passed),
  // "not applied" (filtered without RIS data: no order known then, or rules.ris off), or
  // "" (not filtered yet). ris_detail: the reason or the body parts it looked at.
  std::string ris_decision, ris_detail;
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

// `status`: the studies of one exam date per ModalitiesInStudy and state, with how many
// have a verdict, were sent to the AI node (a dispatch with status sent), and their PACS / received instance sums.
std::vector<pipeline::StateRow> day_progress(pqxx::work& w, const std::string& study_date);
// What the day's pull did in the last `window_seconds`, by the ledger's own clock.
pipeline::RecentActivity recent_activity(pqxx::work& w, const std::string& study_date, double window_seconds);

struct PendingStudy {
  std::string study_uid, state, modalities;
  double waiting_seconds = 0;  // since first found
  double in_state_seconds = 0;
  long pacs_instances = -1, received_instances = 0;
  // Its last event (why it waits); empty kind: none recorded yet.
  std::string event_service, event_kind, event_detail;
  double event_age_seconds = 0;
};
// The study of that date that has waited longest and is not settled (not completed,
// unsupported or failed).
std::optional<PendingStudy> oldest_pending(pqxx::work& w, const std::string& study_date);

struct ParkedMessage {
  long long id = 0;
  std::string at, service, subject, reason;
  long bytes = 0;
};
std::vector<ParkedMessage> parked_messages(pqxx::work& w);
struct ParkedPayload {
  std::string subject, payload;
};
// Locks the row (FOR UPDATE) so two operators cannot re-publish it twice; nullopt: no such id.
std::optional<ParkedPayload> lock_parked(pqxx::work& w, long long id);
void delete_parked(pqxx::work& w, long long id);

// `audit`: what the ledger knows of one study.
struct AuditStudy {
  std::string state;
  long pacs_instances = -1, received_instances = 0;
  bool short_received = false;
  int generation = 0, filtered_generation = 0, dispatched_generation = 0;
  std::string last_move;     // "<status>: <last_error>" of its newest move job, or ""
  std::string filter_reason; // the verdict reasons of its series, "; "-joined
};
std::optional<AuditStudy> audit_study(pqxx::work& w, const std::string& study_uid);
// `pacs test`: whether an instance is in the ledger (a receiver stored it).
bool has_instance(pqxx::work& w, const std::string& sop_uid);

}  // namespace pacspull::ledger
