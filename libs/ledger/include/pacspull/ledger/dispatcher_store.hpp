#pragma once
// Ledger operations of the dispatcher. A study generation has one dispatch per target
// (unique per study, generation, target). Dispatches wait in the ledger as a queue per
// target, taken by priority then exam time (like the move queue) under a lease; the
// instances a dispatch sent are recorded one by one so a restart resends only the rest.
#include <pqxx/pqxx>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pacspull/core/time.hpp"
#include "pacspull/pipeline/state.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::ledger {

struct SeriesVerdict {
  std::string series_uid, modality, family, kernel, description, verdict_reason;
  bool pass = false;
  std::optional<double> slice_thickness;
  long instance_count = 0;
  long series_number = 0;
};

// The last dispatch of a study that a target was sent.
struct SentBefore {
  std::vector<std::string> series;
  long instances = 0;
};

struct StudyToDispatch {
  std::string study_uid, accession_number, patient_id, state;
  int priority = 1, generation = 0, filtered_generation = 0, dispatched_generation = 0;
  std::vector<SeriesVerdict> series;
  std::map<std::string, SentBefore> sent_before;  // by target
  std::vector<std::string> queued_targets;        // targets with a dispatch of this generation
};

struct DispatchToQueue {
  std::string target;
  std::vector<std::string> series;
  std::string reason;
};

struct ClaimedDispatch {
  long long id = 0;
  std::string study_uid, target, reason, accession_number, patient_id;
  int generation = 0, priority = 1, version = 1, attempts = 0;
  std::vector<std::string> series_uids;
};

struct InstanceToSend {
  std::string sop_uid, path;
};

struct DispatchRow {
  long long id = 0;
  std::string study_uid, status, reason, target;
  int version = 1;
  std::vector<std::string> series_uids;
  int instances = 0;
  std::optional<core::Time> at;
};

std::optional<StudyToDispatch> study_to_dispatch(pqxx::work& w, const std::string& study_uid);
// Queues this generation's dispatches (idempotent: a target already queued is left alone),
// each with the study's priority and exam time and its version; one event per new dispatch.
// Returns how many were new.
int queue_dispatches(pqxx::work& w, const std::string& study_uid, int generation,
                     const std::vector<DispatchToQueue>& dispatches);
// Takes the next pending dispatch of `target` (priority DESC, exam time, id) whose lease
// is free and whose not_before has passed, and leases it to `holder` for `lease`.
std::optional<ClaimedDispatch> claim_next_dispatch(pqxx::work& w, const std::string& target, const std::string& holder,
                                                   std::chrono::seconds lease);
void renew_claim(pqxx::work& w, long long dispatch_id, const std::string& holder, std::chrono::seconds lease);
// At start-up: leases held by earlier processes on this host (`holder_prefix` "host:") are
// released, except the caller's own (`holder`). Returns how many.
int release_stale_claims(pqxx::work& w, const std::string& holder_prefix, const std::string& holder);
std::vector<InstanceToSend> unsent_instances(pqxx::work& w, long long dispatch_id);
void mark_sent(pqxx::work& w, long long dispatch_id, const std::vector<std::string>& sop_uids);
// The target refused or failed: recorded, the lease released, tried again after `delay`.
void defer_dispatch(pqxx::work& w, long long dispatch_id, const std::string& study_uid, const rules::Text& error,
                    std::chrono::seconds delay);
struct Finished {
  std::vector<std::string> files;
  bool study_completed = false;  // the last pending dispatch of the generation: study completed
};
// Marks the dispatch sent; when no dispatch of the generation is pending any more, the
// study is completed (the study row is locked first, so two targets finishing at once
// cannot both miss it).
Finished finish_dispatch(pqxx::work& w, long long dispatch_id, const std::string& study_uid, int generation);
// Settles a received generation without sending: `how` is Transition::SettleUnsupported or
// SettleNothingNew (std::invalid_argument otherwise). False (nothing recorded) when the
// study is no longer in a state the transition leaves (reopened, settled meanwhile).
bool settle_without_dispatch(pqxx::work& w, const std::string& study_uid, int generation, pipeline::Transition how,
                             const std::string& why);
// What a de-identified copy replaced for `target` (first mapping wins; derived values are
// deterministic, so a repeat is the same).
void record_deid_map(pqxx::work& w, const std::string& target, const std::string& study_uid,
                     const std::map<std::string, std::string>& uids, const std::string& patient_id,
                     const std::string& pseudonym);
// The original for a de-identified value of `target` ("" when unknown).
std::string original_of(pqxx::work& w, const std::string& target, const std::string& deidentified);
std::vector<DispatchRow> list_dispatches(pqxx::work& w, const std::string& study_uid, int limit);

}  // namespace pacspull::ledger
