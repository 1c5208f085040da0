#include "cfind.hpp"

#include <cstring>
#include <memory>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmnet/dimse.h"
#include "status.hpp"

namespace pacspull::dicom::detail {

FindExchange run_find(ScuAssociation& assoc, const char* sop_class, DcmDataset& identifier, int timeout_s,
                      size_t flood_guard, const std::string& what,
                      const std::function<MatchVerdict(DcmDataset&)>& on_match) {
  FindExchange ex;
  const T_ASC_PresentationContextID pres = assoc.accepted_context(sop_class);
  T_DIMSE_Message request;
  std::memset(&request, 0, sizeof request);
  request.CommandField = DIMSE_C_FIND_RQ;
  T_DIMSE_C_FindRQ& rq = request.msg.CFindRQ;
  rq.MessageID = assoc.next_message_id();
  OFStandard::strlcpy(rq.AffectedSOPClassUID, sop_class, sizeof rq.AffectedSOPClassUID);
  rq.DataSetType = DIMSE_DATASET_PRESENT;
  rq.Priority = DIMSE_PRIORITY_MEDIUM;
  OFCondition cond = DIMSE_sendMessageUsingMemoryData(assoc.get(), pres, &request, nullptr, &identifier, nullptr, nullptr);
  if (cond.bad()) {
    ex.error = network_error(what + ": send", cond);
    return ex;
  }
  size_t after_cancel = 0;
  while (true) {
    T_DIMSE_Message response;
    std::memset(&response, 0, sizeof response);
    T_ASC_PresentationContextID rsp_pres = 0;
    DcmDataset* status_detail = nullptr;  // the status code says what we need
    cond = DIMSE_receiveCommand(assoc.get(), DIMSE_NONBLOCKING, timeout_s, &rsp_pres, &response, &status_detail);
    delete status_detail;
    if (cond.bad()) {
      ex.error = network_error(what + ": waiting for response", cond);
      return ex;
    }
    if (response.CommandField != DIMSE_C_FIND_RSP) {
      ex.error = Error{ErrorClass::Retryable, what + ": unexpected DIMSE command in answer"};
      return ex;
    }
    const T_DIMSE_C_FindRSP& rsp = response.msg.CFindRSP;
    std::unique_ptr<DcmDataset> match;
    if (rsp.DataSetType != DIMSE_DATASET_NULL) {
      DcmDataset* ds = nullptr;
      cond = DIMSE_receiveDataSetInMemory(assoc.get(), DIMSE_NONBLOCKING, timeout_s, &rsp_pres, &ds, nullptr, nullptr);
      match.reset(ds);
      if (cond.bad()) {
        ex.error = network_error(what + ": receiving match", cond);
        return ex;
      }
    }
    if (DICOM_PENDING_STATUS(rsp.DimseStatus)) {
      if (!match) continue;
      if (ex.cancelled) {
        if (++after_cancel > flood_guard) {
          ex.flooded = true;
          ex.error = Error{ErrorClass::Retryable, what + ": the peer ignores C-CANCEL"};
          return ex;
        }
        continue;
      }
      if (on_match(*match) == MatchVerdict::Cancel) {
        ex.cancelled = true;
        DIMSE_sendCancelRequest(assoc.get(), pres, rq.MessageID);
      }
      continue;
    }
    if (rsp.DimseStatus == STATUS_FIND_Cancel_MatchingTerminatedDueToCancelRequest) {
      ex.ended_by_peer = !ex.cancelled;  // a cap at the peer: the caller decides (split, warn)
      return ex;
    }
    if (rsp.DimseStatus != STATUS_Success) ex.error = status_error(what, rsp.DimseStatus);
    return ex;
  }
}

}  // namespace pacspull::dicom::detail
