#include "pacspull/dicom/worklist.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <set>

#include "association.hpp"
#include "bridge.hpp"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk_setup.hpp"
#include "status.hpp"

namespace pacspull::dicom {
namespace {

using detail::ScuAssociation;

int seconds(std::chrono::seconds s) { return s.count() <= 0 ? 1 : static_cast<int>(s.count()); }

std::string describe(const Peer& peer) {
  return peer.ae_title.str() + "@" + peer.host + ":" + std::to_string(peer.port);
}

// The identifier: every key we read back is a return key; the step's start date carries
// the window and, when given, Modality the one modality of this query.
std::string build_identifier(DcmDataset& id, const WorklistQuery& q, const std::string& modality) {
  core::AttributeMap top{{"SpecificCharacterSet", ""},          {"AccessionNumber", ""},
                         {"PatientID", ""},                     {"PatientName", ""},
                         {"RequestedProcedureID", ""},          {"RequestedProcedureDescription", ""},
                         {"RequestedProcedurePriority", ""},    {"StudyInstanceUID", ""},
                         // Not an MWL key: a RIS that knows it answers it, others say 0xFF01.
                         {"BodyPartExamined", ""}};
  if (std::string err = detail::put_attributes(top, id); !err.empty()) return err;
  DcmItem* code = nullptr;
  if (id.findOrCreateSequenceItem(DCM_RequestedProcedureCodeSequence, code, -2).bad() || code == nullptr)
    return "cannot build RequestedProcedureCodeSequence";
  if (std::string err = detail::put_attributes({{"CodeValue", ""}, {"CodingSchemeDesignator", ""}, {"CodeMeaning", ""}}, *code);
      !err.empty())
    return err;
  DcmItem* sps = nullptr;
  if (id.findOrCreateSequenceItem(DCM_ScheduledProcedureStepSequence, sps, -2).bad() || sps == nullptr)
    return "cannot build ScheduledProcedureStepSequence";
  const std::string range = q.date_from == q.date_to ? q.date_from : q.date_from + "-" + q.date_to;
  return detail::put_attributes({{"Modality", modality},
                                 {"ScheduledProcedureStepStartDate", range},
                                 {"ScheduledProcedureStepStartTime", ""},
                                 {"ScheduledProcedureStepDescription", ""},
                                 {"ScheduledProcedureStepID", ""},
                                 {"ScheduledStationAETitle", ""}},
                                *sps);
}

// Top level + first item of each sequence we asked for, flattened (raw values).
core::AttributeMap flatten(DcmDataset& ds) {
  core::AttributeMap out = detail::to_attributes(ds);
  for (const DcmTagKey& seq : {DCM_ScheduledProcedureStepSequence, DCM_RequestedProcedureCodeSequence}) {
    DcmItem* item = nullptr;
    if (ds.findAndGetSequenceItem(seq, item, 0).good() && item != nullptr) {
      const core::AttributeMap nested = detail::to_attributes(*item);  // outlives the loop
      for (const auto& [k, v] : nested.all())
        if (!out.has(k)) out.set(k, v);
    }
  }
  return out;
}

WorklistOrder to_order(core::AttributeMap a) {
  WorklistOrder o;
  o.accession_number = rules::decoded(a, "AccessionNumber");
  o.patient_id = rules::decoded(a, "PatientID");
  o.body_part = rules::decoded(a, "BodyPartExamined");
  o.procedure_code_meaning = rules::decoded(a, "CodeMeaning");
  o.procedure_code = rules::decoded(a, "CodeValue");
  o.requested_procedure_description = rules::decoded(a, "RequestedProcedureDescription");
  o.step_description = rules::decoded(a, "ScheduledProcedureStepDescription");
  o.modality = rules::Text::ascii(a.trimmed("Modality"));
  std::string p = rules::Text::ascii(a.trimmed("RequestedProcedurePriority")).str();
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  o.priority = p;
  o.scheduled_date = rules::Text::ascii(a.trimmed("ScheduledProcedureStepStartDate")).str();
  o.scheduled_time = rules::Text::ascii(a.trimmed("ScheduledProcedureStepStartTime")).str();
  o.attributes = std::move(a);
  return o;
}

constexpr const char* kBodyPartKeys[] = {"BodyPartExamined", "CodeMeaning", "CodeValue", "RequestedProcedureDescription",
                                         "ScheduledProcedureStepDescription"};

}  // namespace

std::vector<rules::Text> WorklistOrder::body_parts() const {
  std::vector<rules::Text> out;
  for (const char* k : kBodyPartKeys) {
    rules::Text t = rules::decoded(attributes, k);
    if (!t.empty() && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

std::string WorklistOrder::body_parts_raw() const {
  std::string out;
  std::set<std::string> seen;
  for (const char* k : kBodyPartKeys) {
    std::string raw = attributes.trimmed(k);
    if (raw.empty() || !seen.insert(raw).second) continue;
    out += (out.empty() ? "" : " | ") + raw;
  }
  return out;
}

WorklistResult find_worklist(const ScuOptions& options, const Peer& peer, const WorklistQuery& query) {
  detail::ensure_dcmtk_setup();
  WorklistResult result;
  std::vector<std::string> modalities = query.modalities;
  if (modalities.empty()) modalities.push_back("");
  std::set<std::pair<std::string, std::string>> seen;  // (accession, step id): a step asked twice counts once
  size_t dropped_without_accession = 0;

  for (const auto& modality : modalities) {
    const std::string what = "worklist C-FIND " + query.date_from + "-" + query.date_to +
                             (modality.empty() ? std::string() : " " + modality) + " on " + describe(peer);
    auto fail = [&](Error e) {
      spdlog::warn("dicom: {}", e.message);
      if (!result.error) result.error = std::move(e);
    };
    DcmDataset identifier;
    if (std::string err = build_identifier(identifier, query, modality); !err.empty()) {
      fail(Error{ErrorClass::Permanent, what + ": " + err});
      continue;
    }
    ScuAssociation assoc;
    if (auto err = assoc.open(options, peer,
                              {{UID_FINDModalityWorklistInformationModel,
                                {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}}})) {
      fail(Error{err->cls, what + ": " + err->message});
      continue;  // the next modality may still answer; a RIS that is down fails them all quickly
    }
    const T_ASC_PresentationContextID pres = assoc.accepted_context(UID_FINDModalityWorklistInformationModel);
    T_DIMSE_Message request;
    std::memset(&request, 0, sizeof request);
    request.CommandField = DIMSE_C_FIND_RQ;
    T_DIMSE_C_FindRQ& rq = request.msg.CFindRQ;
    rq.MessageID = assoc.next_message_id();
    OFStandard::strlcpy(rq.AffectedSOPClassUID, UID_FINDModalityWorklistInformationModel, sizeof rq.AffectedSOPClassUID);
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    OFCondition cond = DIMSE_sendMessageUsingMemoryData(assoc.get(), pres, &request, nullptr, &identifier, nullptr, nullptr);
    if (cond.bad()) {
      fail(detail::network_error(what + ": send", cond));
      continue;
    }
    const int timeout = seconds(options.dimse_timeout);
    bool cancelled = false, failed = false;
    size_t after_cancel = 0;
    while (true) {
      T_DIMSE_Message response;
      std::memset(&response, 0, sizeof response);
      T_ASC_PresentationContextID rsp_pres = 0;
      DcmDataset* status_detail = nullptr;
      cond = DIMSE_receiveCommand(assoc.get(), DIMSE_NONBLOCKING, timeout, &rsp_pres, &response, &status_detail);
      delete status_detail;
      if (cond.bad()) {
        fail(detail::network_error(what + ": waiting for response", cond));
        failed = true;
        break;
      }
      if (response.CommandField != DIMSE_C_FIND_RSP) {
        fail(Error{ErrorClass::Retryable, what + ": unexpected DIMSE command in answer"});
        failed = true;
        break;
      }
      const T_DIMSE_C_FindRSP& rsp = response.msg.CFindRSP;
      std::unique_ptr<DcmDataset> match;
      if (rsp.DataSetType != DIMSE_DATASET_NULL) {
        DcmDataset* ds = nullptr;
        cond = DIMSE_receiveDataSetInMemory(assoc.get(), DIMSE_NONBLOCKING, timeout, &rsp_pres, &ds, nullptr, nullptr);
        match.reset(ds);
        if (cond.bad()) {
          fail(detail::network_error(what + ": receiving match", cond));
          failed = true;
          break;
        }
      }
      if (DICOM_PENDING_STATUS(rsp.DimseStatus)) {
        if (!match) continue;
        if (cancelled) {
          if (++after_cancel > 1000) {  // a RIS that ignores C-CANCEL is cut off
            fail(Error{ErrorClass::Retryable, what + ": RIS ignores C-CANCEL"});
            failed = true;
            break;
          }
          continue;
        }
        WorklistOrder order = to_order(flatten(*match));
        if (order.accession_number.empty()) {
          ++dropped_without_accession;
          continue;
        }
        const std::string step = order.attributes.trimmed("ScheduledProcedureStepID");
        if (!seen.insert({order.accession_number.str(), step}).second) continue;
        result.orders.push_back(std::move(order));
        if (options.max_results != 0 && result.orders.size() >= options.max_results) {
          result.truncated = cancelled = true;
          spdlog::warn("dicom: {}: {} orders reached, sending C-CANCEL (result truncated)", what, options.max_results);
          DIMSE_sendCancelRequest(assoc.get(), pres, rq.MessageID);
        }
        continue;
      }
      if (rsp.DimseStatus != STATUS_Success &&
          !(cancelled && rsp.DimseStatus == STATUS_FIND_Cancel_MatchingTerminatedDueToCancelRequest)) {
        fail(detail::status_error(what, rsp.DimseStatus));
        failed = true;
      }
      break;
    }
    if (failed) assoc.abort();
    else assoc.release();
    if (result.truncated) break;
  }
  if (dropped_without_accession > 0)
    spdlog::warn("dicom: worklist on {}: {} scheduled steps without AccessionNumber ignored", describe(peer),
                 dropped_without_accession);
  return result;
}

}  // namespace pacspull::dicom
