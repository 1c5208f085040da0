#pragma once
// Ledger operations on RIS orders (issue 9 part 9): the finder upserts what the worklist
// returns, one row per scheduled procedure step (ris_order_steps, migration 14), and each
// order touched is re-merged from all its steps (pipeline::merge_ris_steps: union of body
// parts, highest priority, earliest schedule) into ris_orders; the finder raises the move priority of studies with an urgent order; the filter
// reads an order's body parts (by AccessionNumber) and, in tolerance mode, all of the
// patient's orders of the day. All calls run inside the caller's transaction.
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "pacspull/core/time.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::ledger {

// studies.priority of an urgent (STAT/HIGH) RIS order: pacspull.common.v1.PRIORITY_URGENT.
// Manual pulls (3) stay above it; routine (1) below.
inline constexpr int kRisUrgentPriority = 2;

// Written: one scheduled procedure step. Read back (ris_orders_for_accession): the merged order.
struct RisOrderRow {
  std::string ris;  // the configured RIS name
  rules::Text accession, patient_id;
  // Which step of the order (pipeline::ris_step_key); "" for a RIS order given as a whole.
  std::string step_key;
  // The step's texts, most specific first; empty: body_parts is taken as one text.
  std::vector<rules::Text> body_part_list;
  rules::Text body_parts;              // UTF-8, the order's texts joined by " | "
  std::string body_parts_raw;          // their bytes as received
  std::string specific_character_set;  // as declared (may be empty)
  std::string priority;                // STAT, HIGH, ROUTINE, MEDIUM, LOW or as typed
  std::string scheduled_date;          // DA, hospital local date
  std::optional<core::Time> scheduled_at;
  // ScheduledProcedureStepStatus, trimmed and upper-cased; CANCELED or DISCONTINUED
  // (pipeline::is_cancelled_step_status) takes the step out of its order's merge and out of
  // the tolerance mode's day (its row stays, with cancelled_at, for `why`).
  std::string status;
  int steps = 1;                       // read back: how many steps the order merges
  int cancelled_steps = 0;             // read back: how many of its steps the RIS cancelled
};

struct RisUpsert {
  int steps = 0;          // step rows written (new or refreshed)
  int cancelled = 0;      // of them, steps the RIS answered as cancelled
  int orders = 0;         // orders re-merged (new or refreshed)
  int fresh = 0;          // orders the ledger did not know
  int raised_studies = 0; // studies (not yet moved) whose priority an urgent order raised
  int raised_jobs = 0;    // pending move jobs raised with them
  // Orders whose steps name more than one PatientID (the first is kept): the caller logs it.
  int patient_conflicts = 0;
};

bool is_urgent_priority(const std::string& priority);

// Inserts or refreshes the steps and re-merges their orders; an urgent order raises the priority of the studies with
// its AccessionNumber (and of their pending move jobs): the RIS may learn of an exam after
// the PACS did, and the urgent study must still jump the queue. A step answered cancelled
// leaves the merge; a priority it already raised is not lowered (the study may be moving
// already, and a faster pull harms nothing), but studies queued later are not raised by it.
// Steps missing from `orders` are left as stored: a step that leaves the worklist may have
// been performed, not withdrawn.
RisUpsert upsert_ris_orders(pqxx::work& w, const std::vector<RisOrderRow>& orders, core::Time now);

// Every RIS's (merged) order for an accession (usually one).
std::vector<RisOrderRow> ris_orders_for_accession(pqxx::work& w, const std::string& accession);

// Body parts of every step of the patient scheduled on that local date (tolerance mode),
// one " | "-joined text per step.
std::vector<std::string> ris_day_body_parts(pqxx::work& w, const std::string& patient_id, const std::string& date);

// What the RIS says of a study (by its AccessionNumber, PatientID and StudyDate in the
// ledger), for the filter's RIS rule: empty vectors when no order is known yet (the rule
// then does not apply: the flow never waits for the RIS).
struct RisContext {
  std::vector<std::string> body_parts;      // the study's own order(s)
  std::vector<std::string> day_body_parts;  // every order of the patient that day (tolerance)
};
RisContext ris_context(pqxx::work& w, const std::string& study_uid);

// The study's priority after raising it to kRisUrgentPriority when an urgent order names
// its AccessionNumber; nullopt when no urgent order does (priority untouched).
std::optional<int> apply_ris_priority(pqxx::work& w, const std::string& study_uid);

}  // namespace pacspull::ledger
