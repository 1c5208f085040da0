#pragma once
// Outcomes, not strings: what a retrieval (C-MOVE, C-GET, C-STORE) came to, as one value
// that flows from the DICOM adapter to the mover (and the dispatcher, the gRPC status):
// its kind (ok / retryable / permanent), its class (why), the DICOM status and a message.
// A permanent outcome is not retried with backoff; a retryable one may fail over to
// another PACS that holds the study. Pure: no I/O.
#include <cstdint>
#include <string>

#include "pacspull/core/time.hpp"
#include "pacspull/pipeline/retry.hpp"

namespace pacspull::pipeline {

enum class OutcomeKind { Ok, Retryable, Permanent };

enum class OutcomeClass {
  Success,              // final status Success, every sub-operation completed
  NothingSent,          // Success, but 0 sub-operations: the PACS sent nothing
  FewerArrived,         // Success, but fewer instances arrived than the PACS counts
  SubOperationsFailed,  // 0xB000, or Success with failed sub-operations
  OutOfResources,       // 0xA7xx (also 0xA702 "unable to perform sub-operations")
  DestinationUnknown,   // 0xA801: our AE is not registered at the PACS
  IdentifierMismatch,   // 0xA900: identifier does not match SOP class
  UnableToProcess,      // 0xCxxx
  Cancelled,            // 0xFE00
  Refused,              // any other failure status
  Unreachable,          // TCP connection failed (down, wrong host/port, firewall)
  NetworkError,         // association broken, DIMSE timeout, protocol error
  Rejected,             // association rejected permanently (AE titles)
  Busy,                 // association rejected transiently (congestion)
  SopClassRefused,      // no presentation context accepted
  BadRequest,           // our own request was unusable (empty UID, bad key)
  NotConfigured,        // the PACS named is not in the site file
};

struct Outcome {
  OutcomeKind kind = OutcomeKind::Ok;
  OutcomeClass cls = OutcomeClass::Success;
  uint16_t status = 0;  // final DIMSE status (0 when no response arrived)
  std::string message;

  bool ok() const { return kind == OutcomeKind::Ok; }
};

const char* to_string(OutcomeKind k);
const char* to_string(OutcomeClass c);  // "destination-unknown", ...
OutcomeKind kind_of(OutcomeClass c);
Outcome make_outcome(OutcomeClass c, uint16_t status, std::string message);

// The final response of a C-MOVE or C-GET: its status and sub-operation counts.
Outcome classify_retrieve(uint16_t status, int completed, int failed, int warning, const std::string& what);
// "permanent (destination-unknown, 0xA801): <message>"
std::string describe(const Outcome& o);

// Whether another PACS holding the study should be tried at once: it refused, is
// unreachable, or answered A7xx / A8xx (and the other failures of the PACS itself).
// Not for our own mistakes (bad request, not configured), nor for success.
bool fails_over(const Outcome& o);

// The job's next step after an attempt: Done on ok; Failed at once on a permanent outcome
// (no backoff, no further attempts); otherwise after_attempt's bounded backoff.
JobDecision after_outcome(const RetryPolicy& policy, int attempts, const Outcome& o, core::Time now);

}  // namespace pacspull::pipeline
