#include "tls.hpp"

#include <filesystem>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmtls/tlslayer.h"

namespace pacspull::dicom::detail {

TlsLayer::TlsLayer() = default;
TlsLayer::~TlsLayer() = default;

std::optional<std::string> TlsLayer::attach(const TlsOptions& tls, T_ASC_Network* net, bool acceptor) {
  layer_.reset();
  if (!tls.enabled) return std::nullopt;
  const char* role = acceptor ? "TLS (receiver)" : "TLS";
  auto layer = std::make_unique<DcmTLSTransportLayer>(acceptor ? NET_ACCEPTOR : NET_REQUESTOR, nullptr, OFTrue);
  if (!*layer) return std::string(role) + ": OpenSSL could not be initialised";
  auto readable = [](const std::string& f) {
    std::error_code ec;
    return std::filesystem::exists(f, ec);
  };
  if (!tls.private_key.empty() || !tls.certificate.empty()) {
    for (const std::string* f : {&tls.private_key, &tls.certificate})
      if (!readable(*f)) return std::string(role) + ": cannot read '" + *f + "'";
    if (layer->setPrivateKeyFile(tls.private_key.c_str(), DCF_Filetype_PEM).bad())
      return std::string(role) + ": cannot load the private key '" + tls.private_key + "' (PEM, not encrypted)";
    if (layer->setCertificateFile(tls.certificate.c_str(), DCF_Filetype_PEM).bad())
      return std::string(role) + ": cannot load the certificate '" + tls.certificate + "' (PEM)";
    if (!layer->checkPrivateKeyMatchesCertificate())
      return std::string(role) + ": the private key '" + tls.private_key + "' does not match the certificate '" +
             tls.certificate + "'";
  } else if (acceptor) {
    return std::string(role) + ": needs a certificate and a private key";
  }
  for (const auto& ca : tls.ca_certificates) {
    std::error_code ec;
    if (!std::filesystem::exists(ca, ec)) return std::string(role) + ": cannot read CA '" + ca + "'";
    const bool dir = std::filesystem::is_directory(ca, ec);
    OFCondition c = dir ? layer->addTrustedCertificateDir(ca.c_str(), DCF_Filetype_PEM)
                        : layer->addTrustedCertificateFile(ca.c_str(), DCF_Filetype_PEM);
    if (c.bad()) return std::string(role) + ": cannot load CA '" + ca + "': " + c.text();
  }
  if (tls.verify_peer && tls.ca_certificates.empty())
    return std::string(role) + ": verify_peer needs ca_certificates";
  if (OFCondition c = layer->setTLSProfile(TSP_Profile_BCP195); c.bad())
    return std::string(role) + ": TLS profile: " + c.text();
  if (OFCondition c = layer->activateCipherSuites(); c.bad()) return std::string(role) + ": cipher suites: " + c.text();
  layer->setCertificateVerification(tls.verify_peer ? DCV_requireCertificate : DCV_ignoreCertificate);
  if (OFCondition c = ASC_setTransportLayer(net, layer.get(), 0); c.bad())
    return std::string(role) + ": cannot attach the TLS layer: " + c.text();
  layer_ = std::move(layer);
  return std::nullopt;
}

}  // namespace pacspull::dicom::detail
