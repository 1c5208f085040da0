#pragma once
// Ledger operations of the receiver: one short transaction per stored instance, made
// before the C-STORE is answered.
#include <pqxx/pqxx>

#include <optional>
#include <string>

namespace pacspull::ledger {

struct InstanceRow {
  std::string study_uid, series_uid, sop_uid, path;
  std::string accession_number, patient_id, study_date, modality, series_description;
  std::optional<int> series_number;
  long long bytes = 0;
  std::string calling_ae, receiver;
};

struct RecordedInstance {
  bool new_instance = false;  // false: a duplicate (same SOP instance UID) was re-stored
  bool new_series = false;
  bool reopened = false;      // a settled study got new images: it goes round again
};

RecordedInstance record_instance(pqxx::work& w, const InstanceRow& i);

}  // namespace pacspull::ledger
