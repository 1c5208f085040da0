#pragma once
// Ledger operations of the dispatcher. A dispatch is unique per (study, generation);
// the instances it sent are recorded one by one so a restart resends only the rest.
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "pacspull/core/time.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::ledger {

struct SeriesVerdict {
  std::string series_uid, modality, family, kernel, description, verdict_reason;
  bool pass = false;
  std::optional<double> slice_thickness;
  long instance_count = 0;
  long series_number = 0;
};

struct StudyToDispatch {
  std::string study_uid, accession_number, patient_id, state;
  int priority = 1, generation = 0, filtered_generation = 0, dispatched_generation = 0;
  std::vector<SeriesVerdict> series;
  std::vector<std::string> previously_sent;  // series of the last dispatch that was sent
  long previously_sent_instances = 0;
};

struct InstanceToSend {
  std::string sop_uid, path;
};

struct DispatchRow {
  long long id = 0;
  std::string study_uid, status, reason;
  std::vector<std::string> series_uids;
  int instances = 0;
  std::optional<core::Time> at;
};

std::optional<StudyToDispatch> study_to_dispatch(pqxx::work& w, const std::string& study_uid);
// Creates (or finds, on redelivery) the dispatch of this generation; returns its id.
long long begin_dispatch(pqxx::work& w, const std::string& study_uid, int generation,
                         const std::vector<std::string>& series_uids, const std::string& reason, const std::string& ai_node);
std::vector<InstanceToSend> unsent_instances(pqxx::work& w, long long dispatch_id);
void mark_sent(pqxx::work& w, long long dispatch_id, const std::vector<std::string>& sop_uids);
void record_dispatch_failure(pqxx::work& w, long long dispatch_id, const std::string& study_uid,
                             const rules::Text& error);
// Marks the dispatch sent and the study completed. Returns every file of the dispatch.
std::vector<std::string> finish_dispatch(pqxx::work& w, long long dispatch_id, const std::string& study_uid,
                                         int generation);
// Settles a generation without sending: `state` is unsupported or completed.
void settle_without_dispatch(pqxx::work& w, const std::string& study_uid, int generation, const std::string& state,
                             const std::string& why);
std::vector<DispatchRow> list_dispatches(pqxx::work& w, const std::string& study_uid, int limit);

}  // namespace pacspull::ledger
