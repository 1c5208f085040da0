#pragma once
// Ledger operations of the receiver: one short transaction per stored instance, made
// before the C-STORE is answered. Every text field is a rules::Text: the PACS's bytes
// were decoded on the way in (raw bytes kept in `raws`, table text_raw).
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

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

RecordedInstance record_instance(pqxx::work& w, const InstanceRow& i);

// A second copy of an instance with different content, kept aside at `conflict_path`:
// recorded as a conflict (table instance_conflicts, event "conflict"); the first copy stays
// the instance's file. Idempotent by conflict_path.
void record_conflict(pqxx::work& w, const InstanceRow& second, const rules::Text& kept_path,
                     const rules::Text& conflict_path);

}  // namespace pacspull::ledger
