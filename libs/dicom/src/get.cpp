#include "pacspull/dicom/get.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <limits>
#include <random>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcostrmf.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmnet/diutil.h"
#include "bridge.hpp"
#include "dcmtk_setup.hpp"
#include "durable.hpp"
#include "outcome.hpp"
#include "placement.hpp"
#include "pacspull/dicom/read.hpp"
#include "pacspull/dicom/storage.hpp"
#include "pacspull/pipeline/storage.hpp"
#include "pacspull/rules/text.hpp"
#include "status.hpp"
#include "tls.hpp"

namespace pacspull::dicom {
namespace {

constexpr long kMaxReceivePdu = 65536;
constexpr uint16_t kSuccess = 0x0000;
constexpr uint16_t kOutOfResources = 0xA700;
constexpr uint16_t kCannotUnderstand = 0xC000;

int clamp_seconds(std::chrono::seconds s) {
  if (s.count() <= 0) return 1;
  return s.count() > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : static_cast<int>(s.count());
}

// As the receiver accepts them: uncompressed first, then as the PACS stores it.
const char* const kStoreSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,     UID_JPEGLSLosslessTransferSyntax,
    UID_JPEG2000LosslessOnlyTransferSyntax, UID_RLELosslessTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,          UID_JPEG2000TransferSyntax,
    UID_JPEGProcess1TransferSyntax,         UID_JPEGProcess2_4TransferSyntax,
};
constexpr int kStoreSyntaxCount = static_cast<int>(sizeof kStoreSyntaxes / sizeof kStoreSyntaxes[0]);

std::string describe(const Peer& peer) {
  return peer.ae_title.str() + "@" + peer.host + ":" + std::to_string(peer.port);
}

// The requestor association of a C-GET: the GET context plus one storage context per
// storage SOP class with the SCP role (we store what the PACS sends back).
class GetAssociation {
 public:
  ~GetAssociation() {
    abort();
    if (params_ != nullptr) {
      ASC_destroyAssociationParameters(&params_);
      if (assoc_ != nullptr) assoc_->params = nullptr;
    }
    if (assoc_ != nullptr) ASC_destroyAssociation(&assoc_);
    if (net_ != nullptr) ASC_dropNetwork(&net_);
  }
  std::optional<Error> open(const ScuOptions& options, const Peer& peer) {
    const std::string where = describe(peer);
    dcmConnectionTimeout.set(clamp_seconds(options.connect_timeout));
    OFCondition cond = ASC_initializeNetwork(NET_REQUESTOR, 0, clamp_seconds(options.acse_timeout), &net_);
    if (cond.bad()) return detail::network_error("initialize network", cond);
    if (auto err = tls_.attach(peer.tls, net_, false)) return Error{ErrorClass::Permanent, where + ": " + *err};
    cond = ASC_createAssociationParameters(&params_, kMaxReceivePdu);
    if (cond.bad()) return detail::network_error("association parameters", cond);
    if (tls_.active()) ASC_setTransportLayerType(params_, OFTrue);
    ASC_setAPTitles(params_, options.calling_ae.str().c_str(), peer.ae_title.str().c_str(), nullptr);
    const std::string address = peer.host + ":" + std::to_string(peer.port);
    ASC_setPresentationAddresses(params_, OFStandard::getHostName().c_str(), address.c_str());
    const char* get_syntaxes[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
    cond = ASC_addPresentationContext(params_, 1, UID_GETStudyRootQueryRetrieveInformationModel, get_syntaxes, 2);
    if (cond.bad()) return Error{ErrorClass::Permanent, std::string("presentation context: ") + cond.text()};
    unsigned char id = 3;
    for (int i = 0; i < numberOfDcmLongSCUStorageSOPClassUIDs && id < 255; ++i, id += 2) {
      cond = ASC_addPresentationContext(params_, id, dcmLongSCUStorageSOPClassUIDs[i],
                                        const_cast<const char**>(kStoreSyntaxes), kStoreSyntaxCount, ASC_SC_ROLE_SCP);
      if (cond.bad()) return Error{ErrorClass::Permanent, std::string("presentation context: ") + cond.text()};
    }
    cond = ASC_requestAssociation(net_, params_, &assoc_);
    if (cond.bad()) {
      if (cond == DUL_ASSOCIATIONREJECTED) {
        T_ASC_RejectParameters rej;
        ASC_getRejectParameters(params_, &rej);
        OFString text;
        ASC_printRejectParameters(text, &rej);
        const ErrorClass cls = rej.result == ASC_RESULT_REJECTEDTRANSIENT ? ErrorClass::Retryable : ErrorClass::Permanent;
        return Error{cls, "association rejected by " + where + ": " + std::string(text.c_str())};
      }
      return detail::network_error("association to " + where, cond);
    }
    established_ = true;
    if (ASC_findAcceptedPresentationContextID(assoc_, UID_GETStudyRootQueryRetrieveInformationModel) == 0) {
      abort();
      return Error{ErrorClass::Permanent, "no presentation context accepted by " + where + " for C-GET (Study Root)"};
    }
    return std::nullopt;
  }
  T_ASC_Association* get() const { return assoc_; }
  void release() {
    if (assoc_ != nullptr && established_) {
      if (ASC_releaseAssociation(assoc_).bad()) ASC_abortAssociation(assoc_);
      established_ = false;
    }
  }
  void abort() {
    if (assoc_ != nullptr && established_) {
      ASC_abortAssociation(assoc_);
      established_ = false;
    }
  }

 private:
  detail::TlsLayer tls_;  // declared first: destroyed after the network that uses it
  T_ASC_Network* net_ = nullptr;
  T_ASC_Parameters* params_ = nullptr;
  T_ASC_Association* assoc_ = nullptr;
  bool established_ = false;
};

std::atomic<uint64_t> temp_sequence{0};

struct TempNaming {
  std::string host;
  uint64_t random;
};

const TempNaming& naming(const std::string& configured) {
  static const TempNaming n = [&] {
    std::string host = configured;
    if (host.empty()) {
      char name[256] = {0};
      ::gethostname(name, sizeof name - 1);
      host = name;
    }
    return TempNaming{pipeline::temp_host(host), std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32)};
  }();
  return n;
}

// The durable placement of one received instance, the receiver's way (placement.hpp).
uint16_t place(const std::filesystem::path& root, const std::filesystem::path& temp, const std::string& request_sop,
               const Peer& peer, const StoreScp::Sink& sink) {
  const detail::Placement placement{root, "dicom get from " + describe(peer), nullptr, &sink};
  return detail::place_received(placement, temp, request_sop, peer.ae_title.str(), peer.host).status;
}

// Streams one C-STORE sub-operation's dataset into `file` (bit for bit, with a meta
// header). nullopt: the file holds it whole. Otherwise the status to answer, the file
// removed: 0xA700 after a create or write failure of ours (logged, `cond` cleared so the
// association goes on), or Success when `cond` says the association broke.
std::optional<uint16_t> receive_into(T_ASC_Association* assoc, T_ASC_PresentationContextID msg_pres,
                                     T_DIMSE_C_StoreRQ& store, int timeout, const std::filesystem::path& file,
                                     const std::string& who, OFCondition& cond) {
  std::error_code rm;
  DcmOutputFileStream* stream = nullptr;
  cond = DIMSE_createFilestream(file.c_str(), &store, assoc, msg_pres, OFTrue, &stream);
  if (cond.bad()) {
    delete stream;
    spdlog::error("{}: cannot create {}: {}", who, file.string(), cond.text());
    DIC_UL bytes = 0, pdvs = 0;
    cond = DIMSE_ignoreDataSet(assoc, DIMSE_NONBLOCKING, timeout, &bytes, &pdvs);
    return kOutOfResources;
  }
  T_ASC_PresentationContextID data_pres = msg_pres;
  cond = DIMSE_receiveDataSetInFile(assoc, DIMSE_NONBLOCKING, timeout, &data_pres, stream, nullptr, nullptr);
  const OFCondition written = stream->status();
  delete stream;  // closes the file
  if (cond.bad() && !(cond.module() == OFM_dcmnet && cond.code() == DIMSEC_OUTOFRESOURCES)) {
    std::filesystem::remove(file, rm);
    return kSuccess;  // cond says the association broke
  }
  if (cond.bad() || written.bad()) {
    std::filesystem::remove(file, rm);
    spdlog::error("{}: cannot write {}: {}", who, file.string(), cond.bad() ? cond.text() : written.text());
    cond = EC_Normal;
    return kOutOfResources;
  }
  return std::nullopt;
}

// What the exchange does with one C-STORE sub-operation: reads its dataset off the
// association and returns the status to answer; a network failure sets `cond` (then the
// association is aborted).
using SubOperation = std::function<uint16_t(T_ASC_Association* assoc, T_ASC_PresentationContextID pres,
                                            T_DIMSE_C_StoreRQ& store, int timeout, OFCondition& cond)>;

// The C-GET exchange shared by get() and get_header(): association, request, the
// sub-operations (each handed to `on_store` and answered), the final response. Fills
// `result` (status, counts, error); `final_status` says whether a final response arrived.
void exchange(const ScuOptions& options, const Peer& peer, const core::AttributeMap& keys, const std::string& what,
              GetResult& result, bool& final_status, const SubOperation& on_store) {
  DcmDataset identifier;
  if (std::string err = detail::put_attributes(keys, identifier); !err.empty()) {
    result.error = Error{ErrorClass::Permanent, what + ": " + err};
    return;
  }
  GetAssociation assoc;
  if (auto err = assoc.open(options, peer)) {
    result.error = Error{err->cls, what + ": " + err->message};
    return;
  }
  const T_ASC_PresentationContextID pres =
      ASC_findAcceptedPresentationContextID(assoc.get(), UID_GETStudyRootQueryRetrieveInformationModel);
  T_DIMSE_Message request;
  std::memset(&request, 0, sizeof request);
  request.CommandField = DIMSE_C_GET_RQ;
  T_DIMSE_C_GetRQ& rq = request.msg.CGetRQ;
  rq.MessageID = assoc.get()->nextMsgID++;
  OFStandard::strlcpy(rq.AffectedSOPClassUID, UID_GETStudyRootQueryRetrieveInformationModel, sizeof rq.AffectedSOPClassUID);
  rq.DataSetType = DIMSE_DATASET_PRESENT;
  rq.Priority = DIMSE_PRIORITY_MEDIUM;
  OFCondition cond = DIMSE_sendMessageUsingMemoryData(assoc.get(), pres, &request, nullptr, &identifier, nullptr, nullptr);
  if (cond.bad()) {
    result.error = detail::network_error(what + ": send", cond);
    return;
  }
  const int timeout = clamp_seconds(options.dimse_timeout);
  bool broken = false;
  while (true) {
    T_DIMSE_Message msg;
    std::memset(&msg, 0, sizeof msg);
    T_ASC_PresentationContextID msg_pres = 0;
    DcmDataset* status_detail = nullptr;
    cond = DIMSE_receiveCommand(assoc.get(), DIMSE_NONBLOCKING, timeout, &msg_pres, &msg, &status_detail);
    delete status_detail;
    if (cond.bad()) {
      result.error = detail::network_error(what + ": waiting for response", cond);
      broken = true;
      break;
    }
    if (msg.CommandField == DIMSE_C_STORE_RQ) {
      T_DIMSE_C_StoreRQ& store = msg.msg.CStoreRQ;
      const uint16_t status = on_store(assoc.get(), msg_pres, store, timeout, cond);
      if (cond.bad()) {
        result.error = detail::network_error(what + ": receiving C-STORE sub-operation", cond);
        broken = true;
        break;
      }
      if (status == kSuccess) ++result.stored;
      T_DIMSE_C_StoreRSP rsp;
      std::memset(&rsp, 0, sizeof rsp);
      rsp.MessageIDBeingRespondedTo = store.MessageID;
      rsp.DimseStatus = status;
      rsp.DataSetType = DIMSE_DATASET_NULL;
      rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
      OFStandard::strlcpy(rsp.AffectedSOPClassUID, store.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
      OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, store.AffectedSOPInstanceUID, sizeof rsp.AffectedSOPInstanceUID);
      cond = DIMSE_sendStoreResponse(assoc.get(), msg_pres, &store, &rsp, nullptr);
      if (cond.bad()) {
        result.error = detail::network_error(what + ": answering C-STORE sub-operation", cond);
        broken = true;
        break;
      }
      continue;
    }
    if (msg.CommandField != DIMSE_C_GET_RSP) {
      result.error = Error{ErrorClass::Retryable, what + ": unexpected DIMSE command in answer"};
      broken = true;
      break;
    }
    const T_DIMSE_C_GetRSP& rsp = msg.msg.CGetRSP;
    if (rsp.DataSetType != DIMSE_DATASET_NULL) {  // failed SOP instance list: the counts suffice
      T_ASC_PresentationContextID p = 0;
      DcmDataset* ds = nullptr;
      cond = DIMSE_receiveDataSetInMemory(assoc.get(), DIMSE_NONBLOCKING, timeout, &p, &ds, nullptr, nullptr);
      delete ds;
      if (cond.bad()) {
        result.error = detail::network_error(what + ": receiving response dataset", cond);
        broken = true;
        break;
      }
    }
    result.status = rsp.DimseStatus;
    if (rsp.opts & O_GET_NUMBEROFREMAININGSUBOPERATIONS) result.remaining = rsp.NumberOfRemainingSubOperations;
    if (rsp.opts & O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS) result.completed = rsp.NumberOfCompletedSubOperations;
    if (rsp.opts & O_GET_NUMBEROFFAILEDSUBOPERATIONS) result.failed = rsp.NumberOfFailedSubOperations;
    if (rsp.opts & O_GET_NUMBEROFWARNINGSUBOPERATIONS) result.warning = rsp.NumberOfWarningSubOperations;
    if (DICOM_PENDING_STATUS(rsp.DimseStatus)) continue;
    final_status = true;
    if (rsp.DimseStatus == kSuccess && result.failed == 0) {
      result.ok = true;
    } else {
      result.error = Error{ErrorClass::Retryable, what + " failed with status " + detail::hex_status(rsp.DimseStatus) + ", " +
                                                      std::to_string(result.failed) + " sub-operations failed"};
    }
    break;
  }
  if (broken) assoc.abort();
  else assoc.release();
}

}  // namespace

GetResult get(const ScuOptions& options, const GetOptions& get_options, const Peer& peer, const core::StudyUid& study,
              const std::optional<core::SeriesUid>& series, const std::optional<core::SopInstanceUid>& instance,
              const StoreScp::Sink& sink) {
  detail::ensure_dcmtk_setup();
  const auto started = std::chrono::steady_clock::now();
  GetResult result;
  bool final_status = false;
  const std::string what = "C-GET of study " + study.str() + (series ? " series " + series->str() : std::string()) +
                           (instance ? " instance " + instance->str() : std::string()) + " from " + describe(peer);
  auto finish = [&]() {
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    result.outcome = detail::retrieve_outcome(result.error, final_status, result.status, result.completed,
                                              result.failed, result.warning, what);
    if (result.error) spdlog::warn("dicom: {}", result.error->message);
    return result;
  };
  if (study.empty() || (series && series->empty()) || (instance && (instance->empty() || !series)) ||
      get_options.storage_root.empty() || !sink) {
    result.error = Error{ErrorClass::Permanent, what + ": empty UID, storage root or sink"};
    return finish();
  }
  const std::filesystem::path incoming = get_options.storage_root / ".incoming";
  std::error_code ec;
  std::filesystem::create_directories(incoming, ec);
  if (ec) {
    result.error = Error{ErrorClass::Retryable, what + ": cannot create " + incoming.string() + ": " + ec.message()};
    return finish();
  }
  core::AttributeMap keys{{"QueryRetrieveLevel", instance ? "IMAGE" : series ? "SERIES" : "STUDY"},
                          {"StudyInstanceUID", study.str()}};
  if (series) keys.set("SeriesInstanceUID", series->str());
  if (instance) keys.set("SOPInstanceUID", instance->str());
  const TempNaming& names = naming(get_options.host);
  // Each sub-operation is written durably, the receiver's way, before it is answered.
  auto durable = [&](T_ASC_Association* assoc, T_ASC_PresentationContextID msg_pres, T_DIMSE_C_StoreRQ& store,
                     int timeout, OFCondition& cond) -> uint16_t {
    const std::filesystem::path temp =
        incoming / pipeline::temp_name(names.host, ::getpid(), names.random, temp_sequence.fetch_add(1));
    if (auto failed = receive_into(assoc, msg_pres, store, timeout, temp, "dicom get", cond)) return *failed;
    return place(get_options.storage_root, temp, store.AffectedSOPInstanceUID, peer, sink);
  };
  exchange(options, peer, keys, what, result, final_status, durable);
  if (result.ok)
    spdlog::info("dicom: {}: success, {} completed, {} stored, {} warnings", what, result.completed, result.stored,
                 result.warning);
  return finish();
}

HeaderResult get_header(const ScuOptions& options, const Peer& peer, const core::StudyUid& study,
                        const core::SeriesUid& series, const core::SopInstanceUid& instance) {
  detail::ensure_dcmtk_setup();
  const auto started = std::chrono::steady_clock::now();
  HeaderResult out;
  GetResult& result = out.get;
  bool final_status = false;
  const std::string what = "C-GET of the header of instance " + instance.str() + " (study " + study.str() + " series " +
                           series.str() + ") from " + describe(peer);
  auto finish = [&]() {
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    result.outcome = detail::retrieve_outcome(result.error, final_status, result.status, result.completed,
                                              result.failed, result.warning, what);
    if (!result.error && result.ok && !out.header) {
      // Success without the instance: the PACS did not send what it counts as sent.
      result.ok = false;
      result.error = Error{ErrorClass::Retryable, what + ": success, but no instance arrived"};
      result.outcome = detail::retrieve_outcome(result.error, final_status, result.status, 0, result.failed,
                                                result.warning, what);
    }
    return out;
  };
  if (study.empty() || series.empty() || instance.empty()) {
    result.error = Error{ErrorClass::Permanent, what + ": empty UID"};
    return finish();
  }
  const core::AttributeMap keys{{"QueryRetrieveLevel", "IMAGE"},
                                {"StudyInstanceUID", study.str()},
                                {"SeriesInstanceUID", series.str()},
                                {"SOPInstanceUID", instance.str()}};
  // Nothing reaches the store or the ledger. C-GET cannot ask for less than the whole
  // instance, so its pixel data travels too and counts in `bytes`; it is streamed into a
  // scratch file under the system's temp directory (TMPDIR), never held in memory (a
  // multi-frame instance can be gigabytes), its header read up to PixelData, the file removed.
  auto scratch = [&](T_ASC_Association* assoc, T_ASC_PresentationContextID msg_pres, T_DIMSE_C_StoreRQ& store,
                     int timeout, OFCondition& cond) -> uint16_t {
    std::error_code ec;
    const std::filesystem::path temp = std::filesystem::temp_directory_path(ec) /
                                       ("pacspull-sample-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(temp_sequence.fetch_add(1)) + ".dcm");
    if (auto failed = receive_into(assoc, msg_pres, store, timeout, temp, "dicom: " + what + ": scratch file", cond))
      return *failed;
    struct Remove {
      const std::filesystem::path& path;
      ~Remove() {
        std::error_code rm;
        std::filesystem::remove(path, rm);
      }
    } remove{temp};
    const uintmax_t size = std::filesystem::file_size(temp, ec);
    if (!ec) out.bytes += size;
    if (out.header || instance.str() != store.AffectedSOPInstanceUID) {
      // Not the instance asked for (a PACS that sends more): read, not kept.
      spdlog::warn("dicom: {}: the PACS also sent instance {}; not kept", what,
                   rules::Text::ascii(store.AffectedSOPInstanceUID).str());
      return kSuccess;
    }
    ReadResult read = read_attributes(temp);
    if (!read.attributes) {
      spdlog::warn("dicom: {}: the instance does not parse: {}", what, rules::Text::from_utf8(read.error).str());
      return kCannotUnderstand;
    }
    out.header = std::move(read.attributes);
    return kSuccess;
  };
  exchange(options, peer, keys, what, result, final_status, scratch);
  if (!result.ok && !result.error) result.error = Error{ErrorClass::Retryable, what + ": no final response"};
  return finish();
}

}  // namespace pacspull::dicom
