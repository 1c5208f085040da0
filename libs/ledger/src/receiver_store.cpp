#include "pacspull/ledger/receiver_store.hpp"

#include "pacspull/ledger/ledger.hpp"

namespace pacspull::ledger {
namespace {

// Images no finder asked for (a push, or a manual move from the PACS console) still
// get a study row, marked unsolicited, and go through the same checks.
constexpr const char* kEnsureStudy = R"sql(
INSERT INTO studies (study_uid, accession_number, patient_id, study_date, state, unsolicited, generation)
VALUES ($1, $2, $3, $4, 'pulling', true, 1)
ON CONFLICT (study_uid) DO NOTHING)sql";

constexpr const char* kEnsureSeries = R"sql(
INSERT INTO series (series_uid, study_uid, modality, series_number, description, first_instance_path)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (series_uid) DO NOTHING RETURNING 1)sql";

constexpr const char* kUpsertInstance = R"sql(
INSERT INTO instances (sop_uid, series_uid, study_uid, path, bytes, calling_ae, receiver)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (sop_uid) DO UPDATE SET path = EXCLUDED.path, bytes = EXCLUDED.bytes
RETURNING (xmax = 0))sql";

// New images for a settled study reopen it under a new generation so the checker,
// filter and dispatcher look at it again (the dispatcher re-informs only if better).
constexpr const char* kLockState = "SELECT state FROM studies WHERE study_uid = $1 FOR UPDATE";
constexpr const char* kTouchStudy = R"sql(
UPDATE studies SET last_instance_at = now(),
  generation = CASE WHEN state IN ('received', 'unsupported', 'completed', 'failed') THEN generation + 1 ELSE generation END,
  state_changed_at = CASE WHEN state = 'pulling' THEN state_changed_at ELSE now() END,
  state = 'pulling'
WHERE study_uid = $1)sql";

}  // namespace

RecordedInstance record_instance(pqxx::work& w, const InstanceRow& i) {
  RecordedInstance out;
  w.exec_params(kEnsureStudy, i.study_uid, i.accession_number, i.patient_id, i.study_date);
  out.new_series = !w.exec_params(kEnsureSeries, i.series_uid, i.study_uid, i.modality, i.series_number,
                                  i.series_description, i.path)
                         .empty();
  out.new_instance = w.exec_params1(kUpsertInstance, i.sop_uid, i.series_uid, i.study_uid, i.path, i.bytes,
                                    i.calling_ae, i.receiver)[0]
                         .as<bool>();
  if (out.new_instance) {
    std::string before = w.exec_params1(kLockState, i.study_uid)[0].c_str();
    w.exec_params(kTouchStudy, i.study_uid);
    out.reopened = before != "pulling" && before != "queued" && before != "found";
    if (out.reopened)
      record_event(w, i.study_uid, i.series_uid, "receiver", "reopened",
                   "new image for a " + before + " study: it goes round again");
  }
  if (out.new_series)
    record_event(w, i.study_uid, i.series_uid, "receiver", "new-series",
                 "first image of series " + (i.series_number ? std::to_string(*i.series_number) : std::string("?")) +
                     " (" + i.modality + ") from " + i.calling_ae + " via " + i.receiver);
  return out;
}

}  // namespace pacspull::ledger
