#pragma once
// Ledger operations of the receiver: short transactions made before the C-STOREs they
// record are answered (the receiver groups the rows of concurrent C-STOREs in one). Every text field is a rules::Text: the PACS's bytes
// were decoded on the way in (raw bytes kept in `raws`, table text_raw).
#include <pqxx/pqxx>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pacspull/ledger/ledger.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::ledger {

struct InstanceRow {
  rules::Text study_uid, series_uid, sop_uid, path;
  rules::Text accession_number, patient_id, study_date, modality, series_description;
  std::optional<int> series_number;
  long long bytes = 0;
  rules::Text calling_ae, receiver;
  std::vector<rules::RawText> study_raws;   // study-level attributes with non-ASCII bytes
  std::vector<rules::RawText> series_raws;  // series-level ones
  // The receiver placed this file now (it was not in the store). False: an identical copy
  // was already there, which the store's life cycle may have deleted meanwhile.
  bool file_placed = true;
};

struct RecordedInstance {
  bool new_instance = false;  // false: a duplicate (same SOP instance UID) was re-stored
  bool new_series = false;
  bool reopened = false;      // a settled study got new images: it goes round again
  bool revived = false;       // its files had been deleted after hand-off; this copy is the file again
  bool file_gone = false;     // !file_placed and the copy compared against was deleted: not stored
};

// Records one instance: record_instances() of a batch of one.
RecordedInstance record_instance(pqxx::work& w, const InstanceRow& i);

// Records the rows in one statement (migration 013's pacspull_record_instances), in the
// order given, with exactly record_instance's semantics row by row; results in the same
// order. Callers that hold several rows sort them by study and SOP UID first (two
// transactions then lock study rows in the same order). One failing row fails the
// statement, and so the transaction: see record_batch for the per-row fallback.
std::vector<RecordedInstance> record_instances(pqxx::work& w, const std::vector<const InstanceRow*>& rows);

// One row of a group commit (the receiver's): an instance, or with `conflict_path` a second
// copy with other content kept aside there (record_conflict; its RecordedInstance is empty).
struct BatchRow {
  const InstanceRow* row = nullptr;
  std::optional<rules::Text> conflict_path;
};
struct BatchOutcome {
  RecordedInstance recorded;
  std::string error;  // non-empty: not recorded (the sender must be told to retry)
};
// Records the rows in one transaction of `ledger` (BEGIN, one statement for the instances,
// one per conflict, COMMIT), sorted by study and SOP UID. `check`, if set, runs inside the
// transaction for every recorded instance row and throws to fail it (the receiver checks
// that a revived row's file is still there). When the batch fails, each row is retried in a
// transaction of its own, so a bad row fails only itself. Outcomes in the order of `rows`.
using BatchCheck = std::function<void(const InstanceRow&, const RecordedInstance&)>;
std::vector<BatchOutcome> record_batch(Ledger& ledger, const std::vector<BatchRow>& rows, const BatchCheck& check = {});

// A second copy of an instance with different content, kept aside at `conflict_path`:
// recorded as a conflict (table instance_conflicts, event "conflict"); the first copy stays
// the instance's file. Idempotent by conflict_path.
void record_conflict(pqxx::work& w, const InstanceRow& second, const rules::Text& kept_path,
                     const rules::Text& conflict_path);

}  // namespace pacspull::ledger
