#include "outcome.hpp"

namespace pacspull::dicom::detail {

pipeline::Outcome retrieve_outcome(const std::optional<Error>& error, bool final_status, uint16_t status,
                                   int completed, int failed, int warning, const std::string& what) {
  using pipeline::OutcomeClass;
  if (final_status) {
    pipeline::Outcome o = pipeline::classify_retrieve(status, completed, failed, warning, what);
    if (error && !o.ok()) o.message = error->message;
    return o;
  }
  if (!error) return pipeline::make_outcome(OutcomeClass::NetworkError, 0, what + ": no final response");
  const std::string& m = error->message;
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (has("association rejected"))
    return pipeline::make_outcome(error->cls == ErrorClass::Retryable ? OutcomeClass::Busy : OutcomeClass::Rejected,
                                  0, m);
  if (has("no presentation context accepted")) return pipeline::make_outcome(OutcomeClass::SopClassRefused, 0, m);
  if (has("empty UID") || has("presentation context") || has("needs "))
    return pipeline::make_outcome(OutcomeClass::BadRequest, 0, m);
  if (has("association to ") || has("initialize network"))
    return pipeline::make_outcome(OutcomeClass::Unreachable, 0, m);
  return pipeline::make_outcome(error->cls == ErrorClass::Permanent ? OutcomeClass::BadRequest : OutcomeClass::NetworkError,
                                0, m);
}

}  // namespace pacspull::dicom::detail
