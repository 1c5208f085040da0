#include "association.hpp"

#include <limits>

#include "dcmtk_setup.hpp"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/ofstd/ofstd.h"
#include "status.hpp"
#include "tls.hpp"

namespace pacspull::dicom::detail {
namespace {
constexpr long kMaxReceivePdu = 65536;

int clamp_seconds(std::chrono::seconds s) {
  if (s.count() <= 0) return 1;  // 0 means "forever" to DCMTK: never pass it through
  return s.count() > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : static_cast<int>(s.count());
}
}  // namespace

ScuAssociation::~ScuAssociation() { cleanup(); }

std::optional<Error> ScuAssociation::open(const ScuOptions& options, const Peer& peer,
                                          const std::vector<ProposedContext>& contexts) {
  ensure_dcmtk_setup();
  cleanup();
  const std::string where = peer.ae_title.str() + "@" + peer.host + ":" + std::to_string(peer.port);
  if (contexts.empty() || contexts.size() > 128) {
    return Error{ErrorClass::Permanent, "association to " + where + ": need 1..128 presentation contexts"};
  }
  dcmConnectionTimeout.set(clamp_seconds(options.connect_timeout));
  OFCondition cond = ASC_initializeNetwork(NET_REQUESTOR, 0, clamp_seconds(options.acse_timeout), &net_);
  if (cond.bad()) return network_error("initialize network", cond);
  if (auto err = tls_.attach(peer.tls, net_, false)) return Error{ErrorClass::Permanent, where + ": " + *err};
  cond = ASC_createAssociationParameters(&params_, kMaxReceivePdu);
  if (cond.bad()) return network_error("association parameters", cond);
  if (tls_.active()) ASC_setTransportLayerType(params_, OFTrue);
  ASC_setAPTitles(params_, options.calling_ae.str().c_str(), peer.ae_title.str().c_str(), nullptr);
  const std::string address = peer.host + ":" + std::to_string(peer.port);
  ASC_setPresentationAddresses(params_, OFStandard::getHostName().c_str(), address.c_str());

  unsigned char id = 1;
  for (const auto& ctx : contexts) {
    std::vector<const char*> syntaxes;
    for (const auto& ts : ctx.transfer_syntaxes) syntaxes.push_back(ts.c_str());
    cond = ASC_addPresentationContext(params_, id, ctx.abstract_syntax.c_str(), syntaxes.data(),
                                      static_cast<int>(syntaxes.size()));
    if (cond.bad()) return Error{ErrorClass::Permanent, "presentation context " + ctx.abstract_syntax + ": " + cond.text()};
    id += 2;
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
    return network_error("association to " + where, cond);
  }
  established_ = true;
  if (ASC_countAcceptedPresentationContexts(params_) == 0) {
    abort();
    return Error{ErrorClass::Permanent, "no presentation context accepted by " + where};
  }
  return std::nullopt;
}

unsigned char ScuAssociation::accepted_context(const std::string& abstract_syntax,
                                               const std::string& transfer_syntax) const {
  if (assoc_ == nullptr) return 0;
  const int count = ASC_countPresentationContexts(assoc_->params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(assoc_->params, i, &pc).bad()) continue;
    if (pc.resultReason != ASC_P_ACCEPTANCE) continue;
    if (abstract_syntax != pc.abstractSyntax) continue;
    if (!transfer_syntax.empty() && transfer_syntax != pc.acceptedTransferSyntax) continue;
    return pc.presentationContextID;
  }
  return 0;
}

unsigned short ScuAssociation::next_message_id() { return assoc_->nextMsgID++; }

void ScuAssociation::release() {
  if (assoc_ != nullptr && established_) {
    if (ASC_releaseAssociation(assoc_).bad()) ASC_abortAssociation(assoc_);
    established_ = false;
  }
}

void ScuAssociation::abort() {
  if (assoc_ != nullptr && established_) {
    ASC_abortAssociation(assoc_);
    established_ = false;
  }
}

void ScuAssociation::cleanup() {
  abort();
  // Same order as DcmSCU::freeNetwork: ASC_requestAssociation may or may not have
  // attached params_ to assoc_, so free params first and detach them.
  if (params_ != nullptr) {
    ASC_destroyAssociationParameters(&params_);
    params_ = nullptr;
    if (assoc_ != nullptr) assoc_->params = nullptr;
  }
  if (assoc_ != nullptr) ASC_destroyAssociation(&assoc_);
  assoc_ = nullptr;
  if (net_ != nullptr) ASC_dropNetwork(&net_);
  net_ = nullptr;
}

}  // namespace pacspull::dicom::detail
