#pragma once
// Ledger operations of the store's life cycle (deletion after hand-off). Any receiver
// sharing the store may delete the files of any settled study: the deletion of one study
// is one transaction that locks the study row, re-checks it is still due, marks its
// instances and conflict copies deleted and removes their files while the rows are
// locked (a receiver recording a copy of one of those instances waits for it, then sees
// it deleted). Idempotent: a study whose files_deleted_at is set is never claimed again,
// and a file already gone (ENOENT) counts as removed.
#include <pqxx/pqxx>

#include <functional>
#include <string>
#include <vector>

#include "pacspull/core/time.hpp"
#include "pacspull/pipeline/storage.hpp"

namespace pacspull::ledger {

struct StoredStudyRow {
  std::string study_uid;
  pipeline::StoredStudy study;
};

// Settled studies whose files are still in the store and that may be due at `now` under
// `policy` (a coarse SQL filter; pipeline::deletion_due decides), oldest settled first, at
// most `limit`.
std::vector<StoredStudyRow> settled_studies_with_files(pqxx::work& w, const pipeline::RetentionPolicy& policy,
                                                      core::Time now, int limit);

struct DeletedStudy {
  bool deleted = false;  // false: no longer due (reopened, dispatch pending, already done)
  std::string reason;
  long long files = 0;   // files removed (or already absent)
  long long bytes = 0;   // sum of instances.bytes of the removed files
};

// Removes one file; returns "" when removed or already absent, else the error.
using RemoveFile = std::function<std::string(const std::string& path)>;

// Deletes the files of `study_uid` (all but each series' first image, which the filter's
// explain and replay re-read) if `deletion_due` still says so at `now`, in one
// transaction (see above). When a file cannot be removed it throws std::runtime_error
// naming it: the transaction rolls back, nothing is marked, the next sweep tries again
// (files already removed then count as absent).
DeletedStudy delete_study_files(pqxx::work& w, const std::string& study_uid, const pipeline::RetentionPolicy& policy,
                                core::Time now, const RemoveFile& remove);

}  // namespace pacspull::ledger
