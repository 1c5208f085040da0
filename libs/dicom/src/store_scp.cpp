#include "pacspull/dicom/store_scp.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <random>
#include <thread>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcostrmf.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/cond.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmnet/dulstruc.h"
#include "dcmtk_setup.hpp"
#include "durable.hpp"
#include "placement.hpp"
#include "tls.hpp"
#include "pacspull/core/attributes.hpp"
#include "pacspull/dicom/read.hpp"
#include "pacspull/dicom/storage.hpp"
#include "pacspull/pipeline/storage.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::dicom {
namespace {

constexpr long kMaxReceivePdu = 65536;
constexpr uint16_t kStatusSuccess = 0x0000;
constexpr uint16_t kStatusOutOfResources = 0xA700;
constexpr uint16_t kStatusCannotUnderstand = 0xC000;
constexpr const char* kIncomingDir = ".incoming";
// Below this many free bytes a C-STORE is answered 0xA700 without writing: DCMTK 3.6.7's
// DIMSE_receiveDataSetInFile, when the file write fails on the dataset's last PDV (always,
// for a dataset in one PDV), waits to drain data that never comes, until the DIMSE
// timeout, and the sender sees an abort instead of a status it retries on.
constexpr unsigned long long kMinFreeBytes = 16ULL << 20;

bool nearly_full(const std::filesystem::path& dir) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return false;  // let the write report the problem
  return static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize < kMinFreeBytes;
}

// Acceptor preference when a context proposes several: uncompressed first, so a PACS that
// can send raw pixels does (the AI backend then does not decompress); otherwise the
// compressed syntax as the PACS stores it, lossless before lossy, so nothing is refused.
const char* const kTransferSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
};
constexpr int kTransferSyntaxCount = static_cast<int>(sizeof kTransferSyntaxes / sizeof kTransferSyntaxes[0]);

// Peer-supplied strings are escaped before they are compared, logged or stored.
std::string trim_ae(const char* raw) { return rules::Text::ascii(raw == nullptr ? "" : raw).str(); }
std::string printable(std::string_view raw) { return rules::Text::ascii(raw).str(); }

int clamp_seconds(std::chrono::seconds s) { return s.count() <= 0 ? 1 : static_cast<int>(s.count()); }

void destroy(T_ASC_Association*& assoc) {
  if (assoc == nullptr) return;
  ASC_dropSCPAssociation(assoc);
  ASC_destroyAssociation(&assoc);
  assoc = nullptr;
}

}  // namespace

struct StoreScp::Impl {
  Options options;
  Sink sink;
  std::filesystem::path incoming;

  detail::TlsLayer tls_layer;  // outlives net (dropped in stop())
  T_ASC_Network* net = nullptr;
  int listen_fd = -1;
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> refusing{false};
  std::string temp_host;
  uint64_t temp_random = 0;
  bool started = false;
  bool stopped = false;
  std::mutex lifecycle_mutex;

  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex workers_mutex;
  std::list<Worker> workers;
  std::atomic<size_t> active{0};
  std::atomic<uint64_t> temp_sequence{0};

  std::atomic<uint64_t> associations{0}, stored{0}, failed{0}, rejected{0}, refused{0};
  std::atomic<uint64_t> disk_failures{0}, parse_failures{0};
  std::atomic<uint64_t> rejected_calling_ae{0}, rejected_address{0}, rejected_called_ae{0}, rejected_busy{0},
      rejected_tls{0}, not_admitted{0};

  uint16_t open_listener();
  void accept_loop();
  void reap_finished_workers(bool all);
  void remove_stale_temp_files();
  void serve(T_ASC_Association* assoc);
  OFCondition handle_store(T_ASC_Association* assoc, T_ASC_PresentationContextID pres, T_DIMSE_C_StoreRQ& request,
                           const std::string& calling, const std::string& peer);
  detail::PlaceResult place_instance(const std::filesystem::path& temp, const T_DIMSE_C_StoreRQ& request,
                          const std::string& calling, const std::string& peer);
  void reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result, T_ASC_RejectParametersSource source,
              T_ASC_RejectParametersReason reason, const std::string& why);
};

uint16_t StoreScp::Impl::open_listener() {
  // DCMTK 3.6.7 always binds INADDR_ANY and does not report an ephemeral port. So we bind
  // our own socket (bind_host, port or 0), then let DCMTK create its network on an
  // ephemeral port and dup2() our socket over DCMTK's listen descriptor: DCMTK keeps its
  // descriptor number, which now refers to our socket.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("StoreScp: socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  const std::string host = options.bind_host.empty() ? "0.0.0.0" : options.bind_host;
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    ::close(fd);
    throw std::runtime_error("StoreScp: bind_host is not an IPv4 address: " + host);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 64) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("StoreScp: cannot listen on " + host + ":" + std::to_string(options.port) + ": " + err);
  }
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const uint16_t port = ntohs(address.sin_port);

  OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, clamp_seconds(options.acse_timeout), &net);
  if (cond.bad()) {
    ::close(fd);
    throw std::runtime_error(std::string("StoreScp: DCMTK network: ") + cond.text());
  }
  if (auto err = tls_layer.attach(options.tls, net, true)) {
    ::close(fd);
    ASC_dropNetwork(&net);
    throw std::runtime_error("StoreScp: " + *err);
  }
  auto* key = reinterpret_cast<PRIVATE_NETWORKKEY*>(net->network);
  listen_fd = key->networkSpecific.TCP.listenSocket;
  const int flags = ::fcntl(listen_fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags);
  if (::dup2(fd, listen_fd) < 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    ASC_dropNetwork(&net);
    throw std::runtime_error("StoreScp: dup2: " + err);
  }
  ::close(fd);
  ::fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
  return port;
}

void StoreScp::Impl::reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result,
                            T_ASC_RejectParametersSource source, T_ASC_RejectParametersReason reason,
                            const std::string& why) {
  T_ASC_RejectParameters rej{result, source, reason};
  ASC_rejectAssociation(assoc, &rej);
  ++rejected;
  spdlog::warn("dicom scp {}: rejected association: {}", options.ae_title.str(), why);
}

void StoreScp::Impl::reap_finished_workers(bool all) {
  std::list<Worker> finished;
  {
    std::lock_guard lock(workers_mutex);
    for (auto it = workers.begin(); it != workers.end();) {
      if (all || it->done->load()) {
        finished.splice(finished.end(), workers, it++);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : finished) w.thread.join();
}

void StoreScp::Impl::accept_loop() {
  while (!stopping.load() && !draining.load()) {
    reap_finished_workers(false);
    T_ASC_Association* assoc = nullptr;
    // 1 s slices: stop() is also signalled by shutting the listen socket down.
    OFCondition cond = ASC_receiveAssociation(net, &assoc, kMaxReceivePdu, nullptr, nullptr,
                                              tls_layer.active() ? OFTrue : OFFalse, DUL_NOBLOCK, 1);
    if (stopping.load() || draining.load()) {
      if (assoc != nullptr && cond.good()) {
        reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
               ASC_REASON_SP_PRES_TEMPORARYCONGESTION, "shutting down");
      }
      destroy(assoc);
      break;
    }
    if (cond == DUL_NOASSOCIATIONREQUEST) {
      destroy(assoc);
      continue;
    }
    if (cond.bad()) {
      if (tls_layer.active()) {
        // The TLS handshake runs inside the request: a client without a certificate we trust,
        // or one speaking plain DICOM, ends here.
        const std::string peer =
            assoc != nullptr && assoc->params != nullptr ? printable(assoc->params->DULparams.callingPresentationAddress) : "";
        ++rejected;
        ++rejected_tls;
        spdlog::warn("dicom scp {}: rejected association{}: TLS handshake or request failed: {}", options.ae_title.str(),
                     peer.empty() ? "" : " from " + peer, cond.text());
      } else {
        spdlog::warn("dicom scp {}: could not receive association request: {}", options.ae_title.str(), cond.text());
      }
      destroy(assoc);
      continue;
    }
    if (active.load() >= options.max_associations) {
      ++rejected_busy;
      reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
             ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED,
             "too many associations (" + std::to_string(options.max_associations) + " busy), caller " +
                 trim_ae(assoc->params->DULparams.callingAPTitle));
      destroy(assoc);
      continue;
    }
    ++active;
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard lock(workers_mutex);
    workers.push_back({std::thread([this, assoc, done]() mutable {
                         serve(assoc);
                         --active;
                         done->store(true);
                       }),
                       done});
  }
}

void StoreScp::Impl::serve(T_ASC_Association* assoc) {
  const std::string calling = trim_ae(assoc->params->DULparams.callingAPTitle);
  const std::string called = trim_ae(assoc->params->DULparams.calledAPTitle);
  std::string peer = printable(assoc->params->DULparams.callingPresentationAddress);
  const std::string who = "'" + calling + "' from " + peer;

  char context_name[BUFSIZ];
  if (ASC_getApplicationContextName(assoc->params, context_name, sizeof context_name).bad() ||
      std::strcmp(context_name, UID_StandardApplicationContext) != 0) {
    reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED,
           who + ": bad application context");
    destroy(assoc);
    return;
  }
  if (called != options.ae_title.str()) {
    ++rejected_called_ae;
    reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED,
           who + " called '" + called + "', we are '" + options.ae_title.str() + "'");
    destroy(assoc);
    return;
  }
  // Who may send (issue 11): AE title, then address. The peer address is the socket's (DCMTK
  // does no reverse lookup here, dcmtk_setup.cpp).
  if (const pipeline::CallerDecision d = pipeline::admit_caller(options.callers, calling, peer); !d.accepted()) {
    ++(d.verdict == pipeline::CallerVerdict::AddressNotAllowed ? rejected_address : rejected_calling_ae);
    reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED,
           who + ": " + d.detail + " (reason " + pipeline::reason_label(d.verdict) + ")");
    destroy(assoc);
    return;
  }

  const char* verification[] = {UID_VerificationSOPClass};
  ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, verification, 1, const_cast<const char**>(kTransferSyntaxes), 2);
  ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, dcmAllStorageSOPClassUIDs,
                                                  numberOfDcmAllStorageSOPClassUIDs,
                                                  const_cast<const char**>(kTransferSyntaxes), kTransferSyntaxCount);
  if (ASC_countAcceptedPresentationContexts(assoc->params) == 0) {
    reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON,
           who + ": no acceptable presentation context");
    destroy(assoc);
    return;
  }
  ASC_setAPTitles(assoc->params, nullptr, nullptr, options.ae_title.str().c_str());
  if (OFCondition cond = ASC_acknowledgeAssociation(assoc); cond.bad()) {
    spdlog::warn("dicom scp {}: cannot acknowledge association {}: {}", options.ae_title.str(), who, cond.text());
    destroy(assoc);
    return;
  }
  ++associations;
  spdlog::debug("dicom scp {}: association {} accepted", options.ae_title.str(), who);

  const auto idle_limit = options.dimse_timeout.count() <= 0 ? std::chrono::seconds(1) : options.dimse_timeout;
  while (true) {
    T_DIMSE_Message message;
    std::memset(&message, 0, sizeof message);
    T_ASC_PresentationContextID pres = 0;
    OFCondition cond = EC_Normal;
    // Wait for the next command in 1 s slices so stop() is noticed; the whole idle wait is
    // still bounded by the DIMSE timeout.
    const auto idle_deadline = std::chrono::steady_clock::now() + idle_limit;
    bool stop_requested = false;
    while (true) {
      if (stopping.load()) {
        stop_requested = true;
        break;
      }
      cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, 1, &pres, &message, nullptr);
      if (cond == DIMSE_NODATAAVAILABLE && std::chrono::steady_clock::now() < idle_deadline) continue;
      break;
    }
    if (stop_requested) {
      spdlog::warn("dicom scp {}: stopping, aborting association {}", options.ae_title.str(), who);
      ASC_abortAssociation(assoc);
      break;
    }
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      ASC_acknowledgeRelease(assoc);
      break;
    }
    if (cond == DUL_PEERABORTEDASSOCIATION) {
      spdlog::warn("dicom scp {}: association {} aborted by peer", options.ae_title.str(), who);
      break;
    }
    if (cond.bad()) {
      spdlog::warn("dicom scp {}: association {}: {}", options.ae_title.str(), who, cond.text());
      ASC_abortAssociation(assoc);
      break;
    }
    switch (message.CommandField) {
      case DIMSE_C_ECHO_RQ:
        cond = DIMSE_sendEchoResponse(assoc, pres, &message.msg.CEchoRQ, STATUS_Success, nullptr);
        break;
      case DIMSE_C_STORE_RQ:
        cond = handle_store(assoc, pres, message.msg.CStoreRQ, calling, peer);
        break;
      default:
        spdlog::warn("dicom scp {}: association {}: unsupported DIMSE command 0x{:04x}", options.ae_title.str(), who,
                     static_cast<unsigned>(message.CommandField));
        cond = DIMSE_BADCOMMANDTYPE;
        break;
    }
    if (cond.bad()) {
      spdlog::warn("dicom scp {}: association {} broken: {}", options.ae_title.str(), who, cond.text());
      ASC_abortAssociation(assoc);
      break;
    }
  }
  destroy(assoc);
}

OFCondition StoreScp::Impl::handle_store(T_ASC_Association* assoc, T_ASC_PresentationContextID pres,
                                         T_DIMSE_C_StoreRQ& request, const std::string& calling,
                                         const std::string& peer) {
  const int timeout = clamp_seconds(options.dimse_timeout);
  const std::filesystem::path temp =
      incoming / pipeline::temp_name(temp_host, ::getpid(), temp_random, temp_sequence.fetch_add(1));
  uint16_t status = kStatusSuccess;
  StageTimes times;
  bool timed = false;  // the dataset was written (not drained): its stages are reported
  const bool over_cap = refusing.load();
  if (over_cap || nearly_full(incoming)) {
    // Over the storage cap (counted as refused), or the disk nearly full (a disk failure):
    // drain the dataset without writing it; the sender retries.
    DIC_UL bytes = 0, pdvs = 0;
    OFCondition cond = DIMSE_ignoreDataSet(assoc, DIMSE_NONBLOCKING, timeout, &bytes, &pdvs);
    if (cond.bad()) return cond;
    if (over_cap) {
      ++refused;
    } else {
      ++disk_failures;
      spdlog::error("dicom scp {}: less than {} MiB free under {}: instance {} not written; answering "
                    "out-of-resources",
                    options.ae_title.str(), kMinFreeBytes >> 20, incoming.string(),
                    printable(request.AffectedSOPInstanceUID));
    }
    ++failed;
    T_DIMSE_C_StoreRSP response;
    std::memset(&response, 0, sizeof response);
    response.MessageIDBeingRespondedTo = request.MessageID;
    response.DimseStatus = kStatusOutOfResources;
    response.DataSetType = DIMSE_DATASET_NULL;
    response.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
    OFStandard::strlcpy(response.AffectedSOPClassUID, request.AffectedSOPClassUID,
                        sizeof response.AffectedSOPClassUID);
    OFStandard::strlcpy(response.AffectedSOPInstanceUID, request.AffectedSOPInstanceUID,
                        sizeof response.AffectedSOPInstanceUID);
    return DIMSE_sendStoreResponse(assoc, pres, &request, &response, nullptr);
  }
  DcmOutputFileStream* stream = nullptr;
  OFCondition cond = DIMSE_createFilestream(temp.c_str(), &request, assoc, pres, OFTrue, &stream);
  if (cond.bad()) {
    spdlog::error("dicom scp {}: cannot create {}: {}; answering out-of-resources", options.ae_title.str(),
                  temp.string(), cond.text());
    ++disk_failures;
    delete stream;
    DIC_UL bytes = 0, pdvs = 0;
    cond = DIMSE_ignoreDataSet(assoc, DIMSE_NONBLOCKING, timeout, &bytes, &pdvs);
    if (cond.bad()) return cond;
    status = kStatusOutOfResources;
  } else {
    T_ASC_PresentationContextID data_pres = pres;
    const auto receive_start = std::chrono::steady_clock::now();
    cond = DIMSE_receiveDataSetInFile(assoc, DIMSE_NONBLOCKING, timeout, &data_pres, stream, nullptr, nullptr);
    // A write error DCMTK swallowed leaves the stream's status bad; an error the kernel
    // reports only at writeback or close surfaces at our own fsync in place_instance.
    const OFCondition written = stream->status();
    delete stream;  // closes the file
    times.receive = std::chrono::steady_clock::now() - receive_start;
    timed = true;
    if (cond.good() && written.bad()) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
      spdlog::error("dicom scp {}: cannot write {}: {}; answering out-of-resources", options.ae_title.str(),
                    temp.string(), written.text());
      ++disk_failures;
      status = kStatusOutOfResources;
    } else
    if (cond.bad()) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
      // A write failure (disk full) is reported after DCMTK drained the dataset, so the
      // association is still in step and the sender gets a status it retries on.
      if (cond.module() == OFM_dcmnet && cond.code() == DIMSEC_OUTOFRESOURCES) {
        spdlog::error("dicom scp {}: cannot write {}: {}; answering out-of-resources", options.ae_title.str(),
                      temp.string(), cond.text());
        ++disk_failures;
        status = kStatusOutOfResources;
      } else {
        return cond;  // network failure: nothing to answer on
      }
    } else if (data_pres != pres) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
      spdlog::warn("dicom scp {}: dataset on another presentation context than its command", options.ae_title.str());
      ++parse_failures;
      status = kStatusCannotUnderstand;
    } else {
      const auto place_start = std::chrono::steady_clock::now();
      const detail::PlaceResult placed = place_instance(temp, request, calling, peer);
      status = placed.status;
      times.sync = placed.sync;
      times.dir_sync = placed.dir_sync;
      times.sink = placed.sink;
      times.place = std::chrono::steady_clock::now() - place_start - placed.sync - placed.dir_sync - placed.sink;
    }
  }

  T_DIMSE_C_StoreRSP response;
  std::memset(&response, 0, sizeof response);
  response.MessageIDBeingRespondedTo = request.MessageID;
  response.DimseStatus = status;
  response.DataSetType = DIMSE_DATASET_NULL;
  response.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
  OFStandard::strlcpy(response.AffectedSOPClassUID, request.AffectedSOPClassUID, sizeof response.AffectedSOPClassUID);
  OFStandard::strlcpy(response.AffectedSOPInstanceUID, request.AffectedSOPInstanceUID,
                      sizeof response.AffectedSOPInstanceUID);
  if (status == kStatusSuccess) {
    ++stored;
  } else {
    ++failed;
  }
  const auto respond_start = std::chrono::steady_clock::now();
  cond = DIMSE_sendStoreResponse(assoc, pres, &request, &response, nullptr);
  if (timed && options.on_timed) {
    times.respond = std::chrono::steady_clock::now() - respond_start;
    times.success = status == kStatusSuccess && cond.good();
    try {
      options.on_timed(times);
    } catch (const std::exception& e) {
      spdlog::warn("dicom scp {}: stage timing hook failed: {}", options.ae_title.str(), e.what());
    }
  }
  return cond;
}

detail::PlaceResult StoreScp::Impl::place_instance(const std::filesystem::path& temp, const T_DIMSE_C_StoreRQ& request,
                                        const std::string& calling, const std::string& peer) {
  const detail::Placement placement{options.storage_root, "dicom scp " + options.ae_title.str(), &options.admit,
                                    &sink};
  const detail::PlaceResult r = detail::place_received(placement, temp, request.AffectedSOPInstanceUID, calling, peer);
  switch (r.failure) {  // logged where it happened; counted here
    case detail::PlaceFailure::Disk:
      ++disk_failures;
      break;
    case detail::PlaceFailure::Parse:
      ++parse_failures;
      break;
    case detail::PlaceFailure::NotAdmitted:
      ++not_admitted;
      break;
    case detail::PlaceFailure::None:
    case detail::PlaceFailure::AdmitError:
    case detail::PlaceFailure::Sink:
      break;
  }
  return r;
}

StoreScp::StoreScp(Options options, Sink sink) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->sink = std::move(sink);
}

StoreScp::~StoreScp() { stop(); }

uint16_t StoreScp::start() {
  detail::ensure_dcmtk_setup();
  std::lock_guard lock(impl_->lifecycle_mutex);
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("StoreScp::start called twice");
  if (s.options.ae_title.empty()) throw std::invalid_argument("StoreScp: empty AE title");
  if (s.options.storage_root.empty()) throw std::invalid_argument("StoreScp: empty storage_root");
  if (!s.sink) throw std::invalid_argument("StoreScp: no sink");
  if (s.options.max_associations == 0) throw std::invalid_argument("StoreScp: max_associations must be > 0");
  s.incoming = s.options.storage_root / kIncomingDir;
  std::error_code ec;
  std::filesystem::create_directories(s.incoming, ec);
  if (ec) throw std::runtime_error("StoreScp: cannot create " + s.incoming.string() + ": " + ec.message());
  std::string host = s.options.host;
  if (host.empty()) {
    char name[256] = {0};
    ::gethostname(name, sizeof name - 1);
    host = name;
  }
  s.temp_host = pipeline::temp_host(host);
  s.temp_random = std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32);
  s.remove_stale_temp_files();

  const uint16_t port = s.open_listener();
  s.started = true;
  if (s.options.callers.accept_any) {
    spdlog::warn("dicom scp {}: ACCEPTING ANY CALLING AE TITLE FROM ANY ADDRESS (accept_any_caller): anyone who "
                 "reaches port {} may store images here",
                 s.options.ae_title.str(), port);
  } else if (s.options.callers.callers.empty()) {
    spdlog::warn("dicom scp {}: no caller is allowed: every association will be rejected", s.options.ae_title.str());
  } else {
    std::string list;
    for (const auto& c : s.options.callers.callers) {
      list += (list.empty() ? "" : ", ") + c.ae_title.str();
      if (!c.networks.empty()) {
        list += " from";
        for (const auto& n : c.networks) list += " " + n.str();
      }
    }
    spdlog::info("dicom scp {}: accepting associations from {}", s.options.ae_title.str(), list);
  }
  if (s.options.tls.enabled && !s.options.tls.verify_peer)
    spdlog::warn("dicom scp {}: TLS without client certificate verification (verify_peer: false)",
                 s.options.ae_title.str());
  spdlog::info("dicom scp {}: listening on {}:{}{}, storing under {}", s.options.ae_title.str(), s.options.bind_host,
               port, s.tls_layer.active() ? " (DICOM TLS)" : "", s.options.storage_root.string());
  s.acceptor = std::thread([&s] { s.accept_loop(); });
  return port;
}

void StoreScp::stop() {
  std::lock_guard lock(impl_->lifecycle_mutex);
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.stopping.store(true);
  ::shutdown(s.listen_fd, SHUT_RDWR);  // wakes the acceptor's select() at once
  if (s.acceptor.joinable()) s.acceptor.join();
  s.reap_finished_workers(true);
  ASC_dropNetwork(&s.net);
  s.net = nullptr;
  spdlog::info("dicom scp {}: stopped ({} associations, {} stored, {} failed, {} rejected)", s.options.ae_title.str(),
               s.associations.load(), s.stored.load(), s.failed.load(), s.rejected.load());
}

StoreScp::Counters StoreScp::counters() const {
  Counters c;
  c.associations = impl_->associations.load();
  c.stored = impl_->stored.load();
  c.failed = impl_->failed.load();
  c.rejected = impl_->rejected.load();
  c.refused = impl_->refused.load();
  c.disk_failures = impl_->disk_failures.load();
  c.parse_failures = impl_->parse_failures.load();
  c.rejected_calling_ae = impl_->rejected_calling_ae.load();
  c.rejected_address = impl_->rejected_address.load();
  c.rejected_called_ae = impl_->rejected_called_ae.load();
  c.rejected_busy = impl_->rejected_busy.load();
  c.rejected_tls = impl_->rejected_tls.load();
  c.not_admitted = impl_->not_admitted.load();
  return c;
}

void StoreScp::set_refusing(bool refusing) { impl_->refusing.store(refusing); }

size_t StoreScp::drain(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.lifecycle_mutex);
    if (!s.started || s.stopped) return 0;
    if (!s.draining.exchange(true)) {
      // New connections are refused by the kernel from here on; the acceptor leaves its loop.
      ::shutdown(s.listen_fd, SHUT_RDWR);
      if (s.acceptor.joinable()) s.acceptor.join();
      spdlog::info("dicom scp {}: draining, {} associations in flight, grace {} ms", s.options.ae_title.str(),
                   s.active.load(), grace.count());
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (s.active.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polls a condition with a deadline
  const size_t left = s.active.load();
  if (left > 0)
    spdlog::warn("dicom scp {}: drain grace over, aborting {} associations still open", s.options.ae_title.str(), left);
  stop();
  return left;
}

void StoreScp::Impl::remove_stale_temp_files() {
  // Temp files were never acknowledged: their senders resend. But a receiver sharing this
  // store (another pod, another process on this host) may be writing its own right now.
  const auto now = std::filesystem::file_time_type::clock::now();
  const long my_pid = ::getpid();
  size_t removed = 0, kept = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(incoming, ec)) {
    std::error_code e;
    const auto mtime = std::filesystem::last_write_time(entry.path(), e);
    if (e) continue;  // vanished meanwhile: its writer placed or removed it
    pipeline::TempFile f;
    f.owner = pipeline::parse_temp_name(entry.path().filename().string());
    f.age = std::chrono::duration_cast<core::Seconds>(now - mtime);
    if (f.owner && f.owner->host == temp_host && f.owner->pid != my_pid)
      f.owner_alive = ::kill(static_cast<pid_t>(f.owner->pid), 0) == 0 || errno == EPERM;
    const pipeline::TempDecision d = pipeline::stale_temp(f, temp_host, my_pid, options.stale_temp_age);
    if (d.action == pipeline::TempAction::Remove) {
      if (std::filesystem::remove(entry.path(), e)) ++removed;
      spdlog::info("dicom scp {}: removed temp file {}: {}", options.ae_title.str(), entry.path().filename().string(),
                   d.reason);
    } else {
      ++kept;
      spdlog::info("dicom scp {}: kept temp file {}: {}", options.ae_title.str(), entry.path().filename().string(),
                   d.reason);
    }
  }
  if (removed > 0 || kept > 0)
    spdlog::warn("dicom scp {}: {} unacknowledged temp files removed, {} of other receivers kept",
                 options.ae_title.str(), removed, kept);
}

}  // namespace pacspull::dicom
