#include "pacspull/dicom/scu.hpp"

#include <spdlog/spdlog.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "association.hpp"
#include "bridge.hpp"
#include "cfind.hpp"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk_setup.hpp"
#include "outcome.hpp"
#include "status.hpp"

namespace pacspull::dicom {
namespace {

using detail::ProposedContext;
using detail::ScuAssociation;

int seconds(std::chrono::seconds s) { return s.count() <= 0 ? 1 : static_cast<int>(s.count()); }

std::vector<std::string> uncompressed_syntaxes() {
  return {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
}

const char* level_name(QueryLevel level) {
  switch (level) {
    case QueryLevel::Study: return "STUDY";
    case QueryLevel::Series: return "SERIES";
    case QueryLevel::Image: return "IMAGE";
  }
  return "STUDY";
}

std::string describe(const Peer& peer) {
  return peer.ae_title.str() + "@" + peer.host + ":" + std::to_string(peer.port);
}

// Receives (and drops) the dataset of a response when one is announced, so the
// association stays in step.
OFCondition skip_dataset(T_ASC_Association* assoc, int timeout) {
  T_ASC_PresentationContextID pid = 0;
  DcmDataset* ds = nullptr;
  OFCondition cond = DIMSE_receiveDataSetInMemory(assoc, DIMSE_NONBLOCKING, timeout, &pid, &ds, nullptr, nullptr);
  delete ds;
  return cond;
}

// Waits up to `timeout` seconds for the next DIMSE command on the association (status
// detail datasets are dropped: the status code says what we need).
OFCondition receive_response(T_ASC_Association* assoc, int timeout, T_DIMSE_Message& response) {
  std::memset(&response, 0, sizeof response);
  T_ASC_PresentationContextID rsp_pres = 0;
  DcmDataset* detail_ds = nullptr;
  OFCondition cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, timeout, &rsp_pres, &response, &detail_ds);
  delete detail_ds;
  return cond;
}

}  // namespace

EchoResult echo(const ScuOptions& options, const Peer& peer) {
  detail::ensure_dcmtk_setup();
  const auto started = std::chrono::steady_clock::now();
  EchoResult result;
  const std::string what = "C-ECHO to " + describe(peer);
  auto finish = [&]() {
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (result.error) spdlog::warn("dicom: {}", result.error->message);
    return result;
  };
  ScuAssociation assoc;
  if (auto err = assoc.open(options, peer, {{UID_VerificationSOPClass, uncompressed_syntaxes()}})) {
    const bool rejected = err->message.rfind("association rejected", 0) == 0 ||
                          err->message.rfind("no presentation context accepted", 0) == 0;
    result.failed_at = rejected ? EchoResult::Stage::Associate : EchoResult::Stage::Connect;
    result.error = Error{err->cls, what + ": " + err->message};
    return finish();
  }
  DIC_US status = 0;
  DcmDataset* detail_ds = nullptr;
  OFCondition cond = DIMSE_echoUser(assoc.get(), assoc.next_message_id(), DIMSE_NONBLOCKING,
                                    seconds(options.dimse_timeout), &status, &detail_ds);
  delete detail_ds;
  if (cond.bad()) {
    result.failed_at = EchoResult::Stage::Echo;
    result.error = detail::network_error(what, cond);
    assoc.abort();
    return finish();
  }
  assoc.release();
  if (status != STATUS_Success) {
    result.failed_at = EchoResult::Stage::Echo;
    result.error = detail::status_error(what, status);
    return finish();
  }
  result.ok = true;
  return finish();
}

FindResult find(const ScuOptions& options, const Peer& peer, QueryLevel level, const core::AttributeMap& keys) {
  detail::ensure_dcmtk_setup();
  FindResult result;
  const std::string what = std::string("C-FIND ") + level_name(level) + " on " + describe(peer);

  if (level != QueryLevel::Study && keys.trimmed("StudyInstanceUID").empty()) {
    result.error = Error{ErrorClass::Permanent, what + ": Study Root query below study level needs StudyInstanceUID"};
    return result;
  }
  if (level == QueryLevel::Image && keys.trimmed("SeriesInstanceUID").empty()) {
    result.error = Error{ErrorClass::Permanent, what + ": image level query needs SeriesInstanceUID"};
    return result;
  }
  core::AttributeMap query = keys;
  query.set("QueryRetrieveLevel", level_name(level));
  const char* unique_key = level == QueryLevel::Study    ? "StudyInstanceUID"
                           : level == QueryLevel::Series ? "SeriesInstanceUID"
                                                         : "SOPInstanceUID";
  if (!query.has(unique_key)) query.set(unique_key, "");
  DcmDataset identifier;
  if (std::string err = detail::put_attributes(query, identifier); !err.empty()) {
    result.error = Error{ErrorClass::Permanent, what + ": " + err};
    return result;
  }

  ScuAssociation assoc;
  if (auto err = assoc.open(options, peer, {{UID_FINDStudyRootQueryRetrieveInformationModel, uncompressed_syntaxes()}})) {
    result.error = err;
    spdlog::warn("dicom: {} failed: {}", what, err->message);
    return result;
  }
  // After a C-CANCEL a conforming PACS stops at once; one that keeps flooding is cut off
  // (association aborted) after this many further responses, keeping what was collected.
  const size_t flood_guard = options.max_results + 1000;
  detail::FindExchange ex = detail::run_find(
      assoc, UID_FINDStudyRootQueryRetrieveInformationModel, identifier, seconds(options.dimse_timeout), flood_guard,
      what, [&](DcmDataset& match) {
        if (options.max_results != 0 && result.matches.size() >= options.max_results) {
          result.truncated = true;
          spdlog::warn("dicom: {}: more than {} matches, sending C-CANCEL (result truncated)", what, options.max_results);
          return detail::MatchVerdict::Cancel;
        }
        result.matches.push_back(detail::to_attributes(match));
        return detail::MatchVerdict::Continue;
      });
  if (ex.flooded) {
    spdlog::warn("dicom: {}: PACS ignores C-CANCEL, aborting association", what);
    assoc.abort();
    return result;
  }
  if (ex.ended_by_peer) {
    result.ended_by_peer = true;  // a cap at the PACS: the caller splits the query
    spdlog::warn("dicom: {}: the PACS ended the answers itself after {} matches (0xFE00)", what, result.matches.size());
  }
  result.error = ex.error;
  if (result.error) {
    spdlog::warn("dicom: {}", result.error->message);
    assoc.abort();
  } else {
    assoc.release();
  }
  return result;
}

MoveResult move(const ScuOptions& options, const Peer& peer, const core::AeTitle& destination,
                const core::StudyUid& study, const std::optional<core::SeriesUid>& series,
                const std::optional<core::SopInstanceUid>& instance) {
  detail::ensure_dcmtk_setup();
  const auto started = std::chrono::steady_clock::now();
  MoveResult result;
  const std::string what = "C-MOVE of study " + study.str() + (series ? " series " + series->str() : std::string()) +
                           (instance ? " instance " + instance->str() : std::string()) + " from " + describe(peer) +
                           " to " + destination.str();
  auto finish = [&]() {
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    result.outcome = detail::retrieve_outcome(result.error, result.ok || (result.error && (result.error->message.find(" failed with status ") != std::string::npos ||
                                                                        result.error->message.find(" sub-operations failed") != std::string::npos)),
                                              result.status, result.completed, result.failed, result.warning, what);
    if (result.error) spdlog::warn("dicom: {}", result.error->message);
    return result;
  };
  if (study.empty() || (series && series->empty()) || (instance && (instance->empty() || !series))) {
    result.error = Error{ErrorClass::Permanent, what + ": empty UID"};
    return finish();
  }
  core::AttributeMap keys{{"QueryRetrieveLevel", instance ? "IMAGE" : series ? "SERIES" : "STUDY"},
                          {"StudyInstanceUID", study.str()}};
  if (series) keys.set("SeriesInstanceUID", series->str());
  if (instance) keys.set("SOPInstanceUID", instance->str());
  DcmDataset identifier;
  if (std::string err = detail::put_attributes(keys, identifier); !err.empty()) {
    result.error = Error{ErrorClass::Permanent, what + ": " + err};
    return finish();
  }

  ScuAssociation assoc;
  if (auto err = assoc.open(options, peer, {{UID_MOVEStudyRootQueryRetrieveInformationModel, uncompressed_syntaxes()}})) {
    result.error = Error{err->cls, what + ": " + err->message};
    return finish();
  }
  const T_ASC_PresentationContextID pres = assoc.accepted_context(UID_MOVEStudyRootQueryRetrieveInformationModel);
  T_DIMSE_Message request;
  std::memset(&request, 0, sizeof request);
  request.CommandField = DIMSE_C_MOVE_RQ;
  T_DIMSE_C_MoveRQ& rq = request.msg.CMoveRQ;
  rq.MessageID = assoc.next_message_id();
  OFStandard::strlcpy(rq.AffectedSOPClassUID, UID_MOVEStudyRootQueryRetrieveInformationModel, sizeof rq.AffectedSOPClassUID);
  OFStandard::strlcpy(rq.MoveDestination, destination.str().c_str(), sizeof rq.MoveDestination);
  rq.DataSetType = DIMSE_DATASET_PRESENT;
  rq.Priority = DIMSE_PRIORITY_MEDIUM;
  OFCondition cond = DIMSE_sendMessageUsingMemoryData(assoc.get(), pres, &request, nullptr, &identifier, nullptr, nullptr);
  if (cond.bad()) {
    result.error = detail::network_error(what + ": send", cond);
    return finish();
  }

  // Each pending response restarts the DIMSE timeout: a PACS that keeps sending is given
  // time, one that falls silent for dimse_timeout is abandoned.
  const int timeout = seconds(options.dimse_timeout);
  bool broken = false;  // the association is out of step: abort instead of release
  while (true) {
    T_DIMSE_Message response;
    cond = receive_response(assoc.get(), timeout, response);
    if (cond.bad()) {
      result.error = detail::network_error(what + ": waiting for response", cond);
      broken = true;
      break;
    }
    if (response.CommandField != DIMSE_C_MOVE_RSP) {
      broken = true;
      result.error = Error{ErrorClass::Retryable, what + ": unexpected DIMSE command in answer"};
      break;
    }
    const T_DIMSE_C_MoveRSP& rsp = response.msg.CMoveRSP;
    if (rsp.DataSetType != DIMSE_DATASET_NULL) {  // list of failed SOP instances: counts suffice
      cond = skip_dataset(assoc.get(), timeout);
      if (cond.bad()) {
        result.error = detail::network_error(what + ": receiving response dataset", cond);
        broken = true;
        break;
      }
    }
    result.status = rsp.DimseStatus;
    if (rsp.opts & O_MOVE_NUMBEROFREMAININGSUBOPERATIONS) result.remaining = rsp.NumberOfRemainingSubOperations;
    if (rsp.opts & O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS) result.completed = rsp.NumberOfCompletedSubOperations;
    if (rsp.opts & O_MOVE_NUMBEROFFAILEDSUBOPERATIONS) result.failed = rsp.NumberOfFailedSubOperations;
    if (rsp.opts & O_MOVE_NUMBEROFWARNINGSUBOPERATIONS) result.warning = rsp.NumberOfWarningSubOperations;
    if (DICOM_PENDING_STATUS(rsp.DimseStatus)) continue;
    if (rsp.DimseStatus == STATUS_Success && result.failed == 0) {
      result.ok = true;
    } else if (rsp.DimseStatus == STATUS_Success) {
      result.error = Error{ErrorClass::Retryable, what + ": " + std::to_string(result.failed) + " sub-operations failed"};
    } else {
      result.error = detail::status_error(what, rsp.DimseStatus);
    }
    break;
  }
  if (broken) {
    assoc.abort();
  } else {
    assoc.release();
  }
  if (result.ok) {
    spdlog::info("dicom: {}: success, {} completed, {} warnings", what, result.completed, result.warning);
  }
  return finish();
}

StoreResult store(const ScuOptions& options, const Peer& peer, const std::vector<std::filesystem::path>& files,
                  const std::function<void(const std::filesystem::path&)>& on_sent) {
  detail::ensure_dcmtk_setup();
  StoreResult result;
  if (files.empty()) return result;
  const std::string what = "C-STORE to " + describe(peer);

  struct Item {
    std::filesystem::path path;
    std::string sop_class, sop_instance, transfer_syntax;
    bool has_meta = false;
  };
  std::vector<Item> items;
  std::vector<ProposedContext> contexts;
  std::set<std::pair<std::string, std::string>> pairs;
  for (const auto& path : files) {
    DcmFileFormat format;
    OFCondition cond = format.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                               ERM_autoDetect, DCM_PixelData);
    if (cond.bad()) {
      result.failures.emplace_back(path, std::string("cannot read: ") + cond.text());
      continue;
    }
    Item item{path, {}, {}, {}, false};
    OFString value;
    if (format.getDataset()->findAndGetOFString(DCM_SOPClassUID, value).good()) item.sop_class = value.c_str();
    if (format.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, value).good()) item.sop_instance = value.c_str();
    item.transfer_syntax = DcmXfer(format.getDataset()->getOriginalXfer()).getXferID();
    item.has_meta = format.getMetaInfo() != nullptr && format.getMetaInfo()->card() > 0;
    if (item.sop_class.empty() || item.sop_instance.empty()) {
      result.failures.emplace_back(path, "missing SOPClassUID or SOPInstanceUID");
      continue;
    }
    if (pairs.emplace(item.sop_class, item.transfer_syntax).second) {
      if (contexts.size() == 128) {
        result.failures.emplace_back(path, "more than 128 distinct SOP class / transfer syntax pairs");
        continue;
      }
      contexts.push_back({item.sop_class, {item.transfer_syntax}});
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) {
    result.error = Error{ErrorClass::Permanent, what + ": no readable file to send"};
    return result;
  }

  ScuAssociation assoc;
  if (auto err = assoc.open(options, peer, contexts)) {
    result.error = Error{err->cls, what + ": " + err->message};
    for (const auto& item : items) result.failures.emplace_back(item.path, "not sent: " + err->message);
    spdlog::warn("dicom: {}", result.error->message);
    return result;
  }
  const int timeout = seconds(options.dimse_timeout);
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& item = items[i];
    const T_ASC_PresentationContextID pres = assoc.accepted_context(item.sop_class, item.transfer_syntax);
    if (pres == 0) {
      result.failures.emplace_back(item.path, "peer accepted no context for " + item.sop_class + " in " + item.transfer_syntax);
      continue;
    }
    T_DIMSE_C_StoreRQ rq;
    std::memset(&rq, 0, sizeof rq);
    rq.MessageID = assoc.next_message_id();
    OFStandard::strlcpy(rq.AffectedSOPClassUID, item.sop_class.c_str(), sizeof rq.AffectedSOPClassUID);
    OFStandard::strlcpy(rq.AffectedSOPInstanceUID, item.sop_instance.c_str(), sizeof rq.AffectedSOPInstanceUID);
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    T_DIMSE_C_StoreRSP rsp;
    std::memset(&rsp, 0, sizeof rsp);
    DcmDataset* detail_ds = nullptr;
    OFCondition cond;
    if (item.has_meta) {
      // Streams the dataset from the file as stored (no parse, no re-encoding).
      cond = DIMSE_storeUser(assoc.get(), pres, &rq, item.path.c_str(), nullptr, nullptr, nullptr, DIMSE_NONBLOCKING,
                             timeout, &rsp, &detail_ds);
    } else {
      DcmFileFormat format;
      cond = format.loadFile(item.path.c_str());
      if (cond.bad()) {
        result.failures.emplace_back(item.path, std::string("cannot read: ") + cond.text());
        continue;
      }
      cond = DIMSE_storeUser(assoc.get(), pres, &rq, nullptr, format.getDataset(), nullptr, nullptr, DIMSE_NONBLOCKING,
                             timeout, &rsp, &detail_ds);
    }
    delete detail_ds;
    if (cond.bad()) {
      result.error = detail::network_error(what, cond);
      for (size_t j = i; j < items.size(); ++j) result.failures.emplace_back(items[j].path, "not sent: " + result.error->message);
      spdlog::warn("dicom: {} ({} files not sent)", result.error->message, items.size() - i);
      assoc.abort();
      return result;
    }
    const uint16_t status = rsp.DimseStatus;
    if (status == STATUS_Success || (status & 0xF000) == 0xB000) {
      ++result.sent;
      if (on_sent) on_sent(item.path);
    } else {
      result.failures.emplace_back(item.path, "refused with status " + detail::hex_status(status));
    }
  }
  assoc.release();
  if (!result.failures.empty()) {
    spdlog::warn("dicom: {}: {} sent, {} failed (first: {}: {})", what, result.sent, result.failures.size(),
                 result.failures.front().first.string(), result.failures.front().second);
  }
  return result;
}

}  // namespace pacspull::dicom
