#pragma once
// RIS orders from their scheduled procedure steps (issue 9 part 9). A Modality Worklist
// answers one item per scheduled procedure step, and one order (one AccessionNumber) can
// have several: a chest CT step and an abdomen step, or two chest steps. pacspull keeps
// every step it has seen and merges them into one order per (RIS, AccessionNumber):
//   - body parts: the union of every step's texts, in the order first seen, repeats left out
//     (the RIS rule passes when any of them names the chest: the order includes a chest exam);
//   - priority: the highest of the steps (STAT > HIGH > MEDIUM > ROUTINE > LOW > anything
//     else the RIS typed > none), so one urgent step makes the whole order urgent;
//   - scheduled: the earliest step.
// The merge never crosses AccessionNumbers, whatever the tolerance mode: tolerance
// (rules.ris.tolerance) reads all of the patient's steps of that day separately, each
// on its own scheduled date, so a step moved to another day does not drag the order along.
// Steps are kept after they leave the worklist (a performed step disappears from it), so
// an order does not lose a body part because one of its steps was done first.
// A step the RIS answers as cancelled (ScheduledProcedureStepStatus CANCELED or DISCONTINUED,
// see is_cancelled_step_status) stays known but no longer counts: its body parts, priority
// and schedule leave the merge (and the tolerance mode's day). A step that merely disappears
// is not cancelled: the worklist cannot tell a withdrawn step from a performed one.
//
// Pure: no I/O, no clock; the ledger adapter (ris_store) feeds it the stored steps.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pacspull/core/time.hpp"

namespace pacspull::pipeline {

// One scheduled procedure step as stored: texts already decoded to UTF-8.
struct RisStep {
  std::string ris;        // the configured RIS name
  std::string accession;  // AccessionNumber (never empty: steps without one are dropped earlier)
  std::string step_key;   // which step of the order (see ris_step_key)
  std::string patient_id;
  std::vector<std::string> body_parts;  // this step's texts, most specific first
  std::string body_parts_raw;           // their bytes as received, " | "-joined
  std::string specific_character_set;
  std::string priority;  // RequestedProcedurePriority, trimmed and upper-cased
  std::string scheduled_date;  // DA, hospital local date
  std::optional<core::Time> scheduled_at;
  // ScheduledProcedureStepStatus as last answered ("" when the RIS does not send it).
  std::string status;
};

struct RisMergedOrder {
  std::string ris, accession, patient_id;
  std::vector<std::string> body_parts;  // union over the steps
  std::string body_parts_raw;           // each step's raw bytes once, " | "-joined
  std::string specific_character_set;   // the first step's that declares one
  std::string priority;                 // the highest
  std::string scheduled_date;           // of the earliest step
  std::optional<core::Time> scheduled_at;
  std::vector<std::string> step_keys;   // the merged steps, in input order
  // Steps the RIS cancelled, in input order: in none of the fields above, except that an order
  // whose every step is cancelled takes its patient id and schedule from them (no body parts,
  // no priority: nothing of it counts).
  std::vector<std::string> cancelled_step_keys;
  // Steps that named another PatientID than the first (kept: the first one wins).
  std::vector<std::string> patient_id_conflicts;
};

// The separator of joined body-part texts (ledger column ris_orders.body_parts, `why`).
inline constexpr std::string_view kBodyPartSeparator = " | ";
std::string join_body_parts(const std::vector<std::string>& parts);

// Rank of a RequestedProcedurePriority: STAT 5, HIGH 4, MEDIUM 3, ROUTINE 2, LOW 1, any
// other non-empty value 0, empty -1. Comparison only; the urgent ones are is_urgent.
int ris_priority_rank(std::string_view priority);
bool is_urgent(std::string_view priority);

// A ScheduledProcedureStepStatus (0040,0020) that withdraws the step: CANCELED or DISCONTINUED
// (DICOM's defined terms) and CANCELLED (as some RIS spell it), compared trimmed and
// case-insensitive. SCHEDULED, ARRIVED, READY, STARTED, COMPLETED, "" and anything else count.
bool is_cancelled_step_status(std::string_view status);

// The identity of a step within its order: "<RequestedProcedureID>/<ScheduledProcedureStepID>"
// when the RIS sends either; otherwise the step's texts and schedule, so two unnamed steps
// that differ stay two steps and the same unnamed step polled again stays one.
std::string ris_step_key(std::string_view requested_procedure_id, std::string_view step_id,
                         std::string_view body_parts_raw, std::string_view scheduled_date,
                         std::string_view scheduled_time);

// One merged order per (ris, accession), in the order each pair first appears; a step
// given twice (same ris, accession, step_key) counts once, the later copy winning (so a step
// cancelled since, or put back, counts as it was last answered).
std::vector<RisMergedOrder> merge_ris_steps(const std::vector<RisStep>& steps);

}  // namespace pacspull::pipeline
