#pragma once
// Ledger operations of the mover. Jobs are ordered by priority, then exam time
// (earliest first), then arrival.
#include <pqxx/pqxx>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pacspull/core/time.hpp"
#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/pipeline/retrieve_plan.hpp"
#include "pacspull/pipeline/retry.hpp"

namespace pacspull::ledger {

struct MoveJobRow {
  long long id = 0;
  MoveWork work;
  std::string status;
  int attempts = 0;
  int completed = 0, failed = 0;
  std::string last_error;
  std::optional<core::Time> not_before;
  PacsNodeRow pacs;  // resolved from pacs_nodes when claimed
};

struct MoveAttempt {
  bool success = false;
  int completed = 0, failed = 0, warning = 0;
  rules::Text error;  // from the PACS or the network: decoded
  std::chrono::milliseconds elapsed{0};
  std::string outcome, outcome_kind;  // class ("destination-unknown") and kind ("permanent") of the attempt
  std::string retrieved_from;         // the PACS the last try of this attempt used (failover)
  std::string method;                 // "move" or "get"
};

// The PACS that hold a study (study_locations, with their counts) and the study's count:
// the failover order is pipeline::order_sources of these.
struct StudySources {
  std::vector<pipeline::SourceCandidate> candidates;
  std::optional<long> expected;
};
StudySources study_sources(pqxx::work& w, const std::string& study_uid);
// Every configured PACS (pacs_nodes), for failover beyond the known locations.
std::vector<PacsNodeRow> pacs_nodes(pqxx::work& w);
// SOP instance UIDs of a study we already hold (the re-pull moves only the others).
std::set<std::string> held_instances(pqxx::work& w, const std::string& study_uid);
// Records that a PACS was found to hold the study when the mover asked it (failover).
void record_location(pqxx::work& w, const std::string& study_uid, const std::string& pacs, std::optional<long> instances,
                     core::Time now);

// Returns true when the job is new (a redelivered request changes nothing).
// The job is due at `now` (the mover's clock, the one claim_next_job compares with).
bool enqueue_move(pqxx::work& w, const MoveWork& m, core::Time now);
// Jobs left running by a crash go back to pending: the move is simply done again. Only
// the jobs of `mover_id` (this mover's previous run) and those whose lease ran out by
// `now`: another live mover's jobs stay with it.
int reset_running_jobs(pqxx::work& w, const std::string& mover_id = "", core::Time now = core::Time{});
// A running job is leased to its mover for `lease` from the claim; the mover renews it
// (fleet_store.hpp renew_leases). A job whose lease ran out is due again to any mover.
constexpr std::chrono::seconds kMoveLease{60};
// Claims the next due job (marks it running, the study pulling); nullopt when none. Jobs
// of the PACS in `full` (their window of moves in flight is full) are passed over.
std::optional<MoveJobRow> claim_next_job(pqxx::work& w, core::Time now, const std::vector<std::string>& full = {},
                                         const std::string& mover_id = "", std::chrono::seconds lease = kMoveLease);
// Records the attempt and applies the retry decision; `now` stamps finished_at (the
// checker's "last activity").
void finish_job(pqxx::work& w, const MoveJobRow& job, const MoveAttempt& attempt, const pipeline::JobDecision& d,
                core::Time now);
// When the next pending job becomes due (to sleep until then), if any.
std::optional<core::Time> next_due(pqxx::work& w);
std::vector<MoveJobRow> list_jobs(pqxx::work& w, const std::string& status, int limit);
// Re-queues a failed or superseded job, due at `now`.
bool retry_job(pqxx::work& w, long long id, core::Time now);

}  // namespace pacspull::ledger
