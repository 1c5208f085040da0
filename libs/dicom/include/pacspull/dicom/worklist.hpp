#pragma once
// RIS orders through DICOM Modality Worklist (issue 9 part 9): a C-FIND on the Modality
// Worklist Information Model - FIND for the scheduled procedure steps of a date window.
// The RIS is the most trusted source of the exam's body part (the ordering doctor chose it)
// and of its priority (emergency / green channel first).
//
// Like every SCU call here: one association per query, bounded by the ScuOptions timeouts,
// never throws for network or peer failures, safe to call from any thread.
#include <optional>
#include <string>
#include <vector>

#include "pacspull/core/attributes.hpp"
#include "pacspull/dicom/types.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::dicom {

struct WorklistQuery {
  // ScheduledProcedureStepStartDate range, the hospital's local dates (YYYYMMDD).
  std::string date_from, date_to;
  // One C-FIND per modality (the MWL Modality key is single-valued); empty: any modality.
  std::vector<std::string> modalities;
};

// One scheduled procedure step of an order, as the RIS sent it.
struct WorklistOrder {
  // Every answered attribute, the ScheduledProcedureStepSequence item and the first
  // RequestedProcedureCodeSequence item flattened into one map (their keywords do not
  // collide), raw bytes as received; SpecificCharacterSet is the top-level one.
  core::AttributeMap attributes;

  rules::Text accession_number, patient_id;
  rules::Text body_part;                        // BodyPartExamined, when the RIS sends one
  rules::Text procedure_code_meaning;           // RequestedProcedureCodeSequence > CodeMeaning
  rules::Text procedure_code;                   // ... > CodeValue (the hospital's exam code)
  rules::Text requested_procedure_description;  // (0032,1060)
  rules::Text step_description;                 // ScheduledProcedureStepDescription
  rules::Text modality;                         // ScheduledProcedureStepSequence > Modality
  // RequestedProcedurePriority (0040,1003), trimmed and upper-cased: STAT, HIGH, ROUTINE,
  // MEDIUM, LOW, or whatever the RIS typed ("" when absent).
  std::string priority;
  std::string scheduled_date, scheduled_time;  // DA / TM of the step, hospital local time
  // ScheduledProcedureStepStatus (0040,0020), trimmed and upper-cased: SCHEDULED, ARRIVED,
  // READY, STARTED, CANCELED, DISCONTINUED ... ("" when the RIS does not answer it).
  std::string step_status;

  // What the order says is examined, most specific first, empty texts and repeats left
  // out: body part, code meaning, code value, requested procedure, step description.
  std::vector<rules::Text> body_parts() const;
  // The raw bytes behind body_parts() (joined by " | "), for the forensic record.
  std::string body_parts_raw() const;
  bool urgent() const { return priority == "STAT" || priority == "HIGH"; }
  // The RIS withdrew this step (pipeline::is_cancelled_step_status): it leaves the merge.
  // Its texts are decoded like any other step's.
  bool cancelled() const;
};

struct WorklistResult {
  std::vector<WorklistOrder> orders;
  bool truncated = false;  // max_results reached (C-CANCEL sent)
  // The first failure; orders of the queries that answered are still in `orders`.
  std::optional<Error> error;
};

// C-FIND (Modality Worklist) for the window. Orders without an AccessionNumber are
// dropped (logged): nothing in the pipeline could be matched to them.
WorklistResult find_worklist(const ScuOptions& options, const Peer& peer, const WorklistQuery& query);

}  // namespace pacspull::dicom
