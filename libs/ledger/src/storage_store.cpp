#include "pacspull/ledger/storage_store.hpp"

#include <stdexcept>

#include "pacspull/ledger/ledger.hpp"
#include "state_sql.hpp"

namespace pacspull::ledger {
namespace {

// What deletion_due needs about a study. Dispatch facts span every generation: a pending
// or failed dispatch (being retried) keeps the files, a sent one confirms the hand-off.
constexpr const char* kStudyFacts = R"sql(
SELECT s.study_uid, s.state, s.generation, s.dispatched_generation,
       EXTRACT(EPOCH FROM s.state_changed_at)::float8,
       s.files_deleted_at IS NOT NULL,
       EXISTS (SELECT 1 FROM dispatches d WHERE d.study_uid = s.study_uid AND d.status IN ('pending', 'failed')),
       EXISTS (SELECT 1 FROM dispatches d WHERE d.study_uid = s.study_uid AND d.status = 'sent')
FROM studies s)sql";

// Narrows to studies that may be due ($2: now - keep_after_dispatch, $3: now - retention),
// so studies waiting out their retention never crowd the batch; deletion_due decides.
// $4: the settled states, $5: those the dispatcher settles (completed, unsupported).
constexpr const char* kSettledWithFiles = R"sql(
WHERE s.files_deleted_at IS NULL AND s.state = ANY($4::text[])
  AND ((s.state_changed_at <= to_timestamp($2) AND s.state = ANY($5::text[])
        AND EXISTS (SELECT 1 FROM dispatches d WHERE d.study_uid = s.study_uid AND d.status = 'sent'))
       OR s.state_changed_at <= to_timestamp($3))
ORDER BY s.state_changed_at LIMIT $1)sql";

// The deleter holds this lock for the whole deletion: a reopen (finder, checker,
// receiver) of the same study waits for it and then sees the files gone.
constexpr const char* kLockStudy = " WHERE s.study_uid = $1 FOR UPDATE OF s";

// Each series' first image stays: `pullctl filter explain --series` and `filter replay`
// re-read it (one file per series; the rest of the study goes).
constexpr const char* kMarkInstances = R"sql(
UPDATE instances SET deleted_at = to_timestamp($2)
WHERE study_uid = $1 AND deleted_at IS NULL
  AND path NOT IN (SELECT first_instance_path FROM series WHERE study_uid = $1)
RETURNING path, bytes)sql";

constexpr const char* kMarkConflicts = R"sql(
UPDATE instance_conflicts SET deleted_at = to_timestamp($2)
WHERE study_uid = $1 AND deleted_at IS NULL
RETURNING conflict_path, bytes)sql";

constexpr const char* kMarkStudy = "UPDATE studies SET files_deleted_at = to_timestamp($2) WHERE study_uid = $1";

double epoch_seconds(core::Time t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

StoredStudyRow to_row(const pqxx::row& r) {
  StoredStudyRow out;
  out.study_uid = r[0].c_str();
  out.study.state = pipeline::parse_state(r[1].c_str()).value_or(pipeline::StudyState::Found);
  out.study.generation = r[2].as<int>();
  out.study.dispatched_generation = r[3].as<int>();
  out.study.settled_at = core::Time{} + std::chrono::duration_cast<core::Clock::duration>(
                                            std::chrono::duration<double>(r[4].as<double>()));
  out.study.files_deleted = r[5].as<bool>();
  out.study.dispatch_pending = r[6].as<bool>();
  out.study.dispatch_sent = r[7].as<bool>();
  return out;
}

}  // namespace

std::vector<StoredStudyRow> settled_studies_with_files(pqxx::work& w, const pipeline::RetentionPolicy& policy,
                                                      core::Time now, int limit) {
  std::vector<StoredStudyRow> out;
  for (const auto& r : w.exec_params(std::string(kStudyFacts) + kSettledWithFiles, limit,
                                     epoch_seconds(now - policy.keep_after_dispatch),
                                     epoch_seconds(now - policy.retention), state_array(pipeline::settled_states()),
                                     state_array({pipeline::StudyState::Completed, pipeline::StudyState::Unsupported})))
    out.push_back(to_row(r));
  return out;
}

DeletedStudy delete_study_files(pqxx::work& w, const std::string& study_uid, const pipeline::RetentionPolicy& policy,
                                core::Time now, const RemoveFile& remove) {
  DeletedStudy out;
  pqxx::result r = w.exec_params(std::string(kStudyFacts) + kLockStudy, study_uid);
  if (r.empty()) {
    out.reason = "no such study";
    return out;
  }
  const StoredStudyRow row = to_row(r[0]);
  const pipeline::DeleteDecision d = pipeline::deletion_due(row.study, policy, now);
  out.reason = d.reason;
  if (d.action != pipeline::DeleteAction::Delete) return out;
  const double at = epoch_seconds(now);
  std::string errors;
  for (const char* sql : {kMarkInstances, kMarkConflicts}) {
    for (const auto& f : w.exec_params(sql, study_uid, at)) {
      const std::string path = f[0].c_str();
      if (std::string err = remove(path); !err.empty()) {
        errors += (errors.empty() ? "" : "; ") + err;
        continue;
      }
      ++out.files;
      out.bytes += f[1].as<long long>();
    }
  }
  // Nothing is marked when a file stays: the transaction rolls back, a later sweep retries.
  if (!errors.empty()) throw std::runtime_error("study " + study_uid + ": files kept: " + errors);
  w.exec_params(kMarkStudy, study_uid, at);
  record_event(w, study_uid, "", "receiver", "files-deleted",
               rules::Text::from_utf8(std::to_string(out.files) + " files (" + std::to_string(out.bytes) +
                                      " bytes) deleted from the store: " + d.reason));
  out.deleted = true;
  return out;
}

}  // namespace pacspull::ledger
