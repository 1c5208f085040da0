#include "pacspull/ledger/receiver_store.hpp"

#include "pacspull/ledger/ledger.hpp"
#include "state_sql.hpp"

namespace pacspull::ledger {
namespace {

// Images no finder asked for (a push, or a manual move from the PACS console) still
// get a study row, marked unsolicited, and go through the same checks.
constexpr const char* kEnsureStudy = R"sql(
INSERT INTO studies (study_uid, accession_number, patient_id, study_date, state, unsolicited, generation)
VALUES ($1, $2, $3, $4, $5, true, 1)
ON CONFLICT (study_uid) DO NOTHING)sql";

constexpr const char* kEnsureSeries = R"sql(
INSERT INTO series (series_uid, study_uid, modality, series_number, description, first_instance_path)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (series_uid) DO NOTHING RETURNING 1)sql";

// The first acknowledged copy of an instance is never replaced: a duplicate with the same
// bytes changes nothing, one with other bytes is a conflict recorded apart.
constexpr const char* kInsertInstance = R"sql(
INSERT INTO instances (sop_uid, series_uid, study_uid, path, bytes, calling_ae, receiver)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (sop_uid) DO NOTHING
RETURNING 1)sql";

// New images for a settled study reopen it under a new generation so the checker,
// filter and dispatcher look at it again (the dispatcher re-informs only if better).
// $2: the states Transition::Reopen leaves (a new generation), $3: pulling, the state
// both Reopen and InstanceArrived lead to, $4: the states either leaves.
constexpr const char* kLockState = "SELECT state FROM studies WHERE study_uid = $1 FOR UPDATE";
constexpr const char* kTouchStudy = R"sql(
UPDATE studies SET last_instance_at = now(),
  generation = CASE WHEN state = ANY($2::text[]) THEN generation + 1 ELSE generation END,
  state_changed_at = CASE WHEN state = $3 THEN state_changed_at ELSE now() END,
  state = $3
WHERE study_uid = $1 AND state = ANY($4::text[]))sql";

// An instance whose file left the store after hand-off (003_storage) and arrives again.
constexpr const char* kReviveInstance = R"sql(
UPDATE instances SET deleted_at = NULL, path = $2, bytes = $3, receiver = $4, received_at = now()
WHERE sop_uid = $1 AND deleted_at IS NOT NULL RETURNING 1)sql";
constexpr const char* kReviveStudy = R"sql(
UPDATE studies SET files_deleted_at = NULL, last_instance_at = now() WHERE study_uid = $1)sql";
// Waits for a deletion in progress (it locks the row), then reads its outcome.
constexpr const char* kInstanceDeleted = "SELECT deleted_at IS NOT NULL FROM instances WHERE sop_uid = $1 FOR SHARE";

constexpr const char* kInsertConflict = R"sql(
INSERT INTO instance_conflicts (sop_uid, study_uid, series_uid, kept_path, conflict_path, bytes, calling_ae, receiver)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (conflict_path) DO NOTHING RETURNING 1)sql";

}  // namespace

RecordedInstance record_instance(pqxx::work& w, const InstanceRow& i) {
  RecordedInstance out;
  const std::string& study = i.study_uid.str();
  const std::string& series = i.series_uid.str();
  w.exec_params(kEnsureStudy, study, i.accession_number.str(), i.patient_id.str(), i.study_date.str(),
                to_state(pipeline::Transition::Unsolicited));
  // The study row is locked first, before any row that references it is inserted: the
  // foreign keys of a new series or instance take a share lock on it, and two transactions
  // that each held that share lock and then asked for the update lock deadlocked (seen with
  // four associations sending four series of one study).
  const std::string before = w.exec_params1(kLockState, study)[0].c_str();
  out.new_series = !w.exec_params(kEnsureSeries, series, study, i.modality.str(), i.series_number,
                                  i.series_description.str(), i.path.str())
                         .empty();
  out.new_instance = !w.exec_params(kInsertInstance, i.sop_uid.str(), series, study, i.path.str(), i.bytes,
                                    i.calling_ae.str(), i.receiver.str())
                          .empty();
  if (!out.new_instance && i.file_placed) {
    out.revived = !w.exec_params(kReviveInstance, i.sop_uid.str(), i.path.str(), i.bytes, i.receiver.str()).empty();
    if (out.revived) w.exec_params(kReviveStudy, study);
  } else if (!out.new_instance) {
    pqxx::result r = w.exec_params(kInstanceDeleted, i.sop_uid.str());
    out.file_gone = !r.empty() && r[0][0].as<bool>();
  }
  if (out.new_instance) {
    using pipeline::Transition;
    w.exec_params(kTouchStudy, study, from_states(Transition::Reopen), to_state(Transition::Reopen),
                  state_array(pipeline::legal_from(Transition::Reopen) | pipeline::legal_from(Transition::InstanceArrived)));
    const auto was = pipeline::parse_state(before);
    out.reopened = was && pipeline::is_legal(Transition::Reopen, *was);
    if (out.reopened)
      record_event(w, study, series, "receiver", "reopened",
                   rules::Text::from_utf8("new image for a " + before + " study: it goes round again"));
  }
  if (out.new_series) {
    record_event(w, study, series, "receiver", "new-series",
                 rules::Text::from_utf8("first image of series " +
                                        (i.series_number ? std::to_string(*i.series_number) : std::string("?")) +
                                        " (" + i.modality.str() + ") from " + i.calling_ae.str() + " via " +
                                        i.receiver.str()));
    record_raw_texts(w, study, "", i.study_raws, "receiver");
    record_raw_texts(w, study, series, i.series_raws, "receiver");
  }
  return out;
}

void record_conflict(pqxx::work& w, const InstanceRow& second, const rules::Text& kept_path,
                     const rules::Text& conflict_path) {
  const bool fresh = !w.exec_params(kInsertConflict, second.sop_uid.str(), second.study_uid.str(),
                                    second.series_uid.str(), kept_path.str(), conflict_path.str(), second.bytes,
                                    second.calling_ae.str(), second.receiver.str())
                          .empty();
  if (fresh)
    record_event(w, second.study_uid.str(), second.series_uid.str(), "receiver", "conflict",
                 rules::Text::from_utf8("instance " + second.sop_uid.str() + " received again from " +
                                        second.calling_ae.str() + " with different content: the first copy (" +
                                        kept_path.str() + ") is kept and dispatched, the second is kept aside at " +
                                        conflict_path.str()));
}

}  // namespace pacspull::ledger
