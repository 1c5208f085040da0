#include "pacspull/pipeline/outcome.hpp"

#include <cstdio>

namespace pacspull::pipeline {

const char* to_string(OutcomeKind k) {
  switch (k) {
    case OutcomeKind::Ok: return "ok";
    case OutcomeKind::Retryable: return "retryable";
    case OutcomeKind::Permanent: return "permanent";
  }
  return "permanent";
}

const char* to_string(OutcomeClass c) {
  switch (c) {
    case OutcomeClass::Success: return "success";
    case OutcomeClass::NothingSent: return "nothing-sent";
    case OutcomeClass::FewerArrived: return "fewer-arrived";
    case OutcomeClass::SubOperationsFailed: return "sub-operations-failed";
    case OutcomeClass::OutOfResources: return "out-of-resources";
    case OutcomeClass::DestinationUnknown: return "destination-unknown";
    case OutcomeClass::IdentifierMismatch: return "identifier-mismatch";
    case OutcomeClass::UnableToProcess: return "unable-to-process";
    case OutcomeClass::Cancelled: return "cancelled";
    case OutcomeClass::Refused: return "refused";
    case OutcomeClass::Unreachable: return "unreachable";
    case OutcomeClass::NetworkError: return "network-error";
    case OutcomeClass::Rejected: return "association-rejected";
    case OutcomeClass::Busy: return "association-busy";
    case OutcomeClass::SopClassRefused: return "sop-class-refused";
    case OutcomeClass::BadRequest: return "bad-request";
    case OutcomeClass::NotConfigured: return "not-configured";
  }
  return "refused";
}

OutcomeKind kind_of(OutcomeClass c) {
  switch (c) {
    case OutcomeClass::Success: return OutcomeKind::Ok;
    case OutcomeClass::NothingSent:
    case OutcomeClass::FewerArrived:
    case OutcomeClass::SubOperationsFailed:
    case OutcomeClass::OutOfResources:
    case OutcomeClass::UnableToProcess:
    case OutcomeClass::Cancelled:
    case OutcomeClass::Unreachable:
    case OutcomeClass::NetworkError:
    case OutcomeClass::Busy:
      return OutcomeKind::Retryable;
    case OutcomeClass::DestinationUnknown:
    case OutcomeClass::IdentifierMismatch:
    case OutcomeClass::Refused:
    case OutcomeClass::Rejected:
    case OutcomeClass::SopClassRefused:
    case OutcomeClass::BadRequest:
    case OutcomeClass::NotConfigured:
      return OutcomeKind::Permanent;
  }
  return OutcomeKind::Permanent;
}

Outcome make_outcome(OutcomeClass c, uint16_t status, std::string message) {
  return Outcome{kind_of(c), c, status, std::move(message)};
}

Outcome classify_retrieve(uint16_t status, int completed, int failed, int warning, const std::string& what) {
  (void)warning;
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%04X", status);
  const std::string counts = std::to_string(completed) + " completed, " + std::to_string(failed) + " failed";
  if (status == 0x0000) {
    if (failed > 0)
      return make_outcome(OutcomeClass::SubOperationsFailed, status, what + ": " + counts);
    if (completed == 0 && warning == 0)
      return make_outcome(OutcomeClass::NothingSent, status, what + ": success, but the PACS sent nothing");
    return make_outcome(OutcomeClass::Success, status, what + ": " + counts);
  }
  const std::string failed_with = what + " failed with status " + hex;
  if ((status & 0xF000) == 0xB000)
    return make_outcome(OutcomeClass::SubOperationsFailed, status, failed_with + " (" + counts + ")");
  if (status == 0xA801) return make_outcome(OutcomeClass::DestinationUnknown, status, failed_with + " (move destination unknown)");
  if ((status & 0xFF00) == 0xA700) return make_outcome(OutcomeClass::OutOfResources, status, failed_with + " (out of resources)");
  if ((status & 0xFF00) == 0xA900)
    return make_outcome(OutcomeClass::IdentifierMismatch, status, failed_with + " (identifier does not match SOP class)");
  if (status == 0xFE00) return make_outcome(OutcomeClass::Cancelled, status, failed_with + " (cancelled)");
  if ((status & 0xF000) == 0xC000) return make_outcome(OutcomeClass::UnableToProcess, status, failed_with + " (unable to process)");
  return make_outcome(OutcomeClass::Refused, status, failed_with);
}

std::string describe(const Outcome& o) {
  std::string s = std::string(to_string(o.kind)) + " (" + to_string(o.cls);
  if (o.status != 0) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%04X", o.status);
    s += std::string(", ") + hex;
  }
  s += ")";
  if (!o.message.empty()) s += ": " + o.message;
  return s;
}

bool fails_over(const Outcome& o) {
  switch (o.cls) {
    case OutcomeClass::Success:
    case OutcomeClass::BadRequest:
    case OutcomeClass::NotConfigured:
      return false;
    default:
      return true;
  }
}

JobDecision after_outcome(const RetryPolicy& policy, int attempts, const Outcome& o, core::Time now) {
  if (o.ok()) return {JobNext::Done, now, "move succeeded"};
  if (o.kind == OutcomeKind::Permanent)
    return {JobNext::Failed, now, "failed permanently, not retried: " + describe(o)};
  return after_attempt(policy, attempts, false, describe(o), now);
}

}  // namespace pacspull::pipeline
