#pragma once
// DICOM TLS (PS3.15 Annex B) with DCMTK's dcmtls over OpenSSL: one transport layer per
// network, built from PEM files named in the site configuration (issue 11 part 2).
//
// Profile: BCP 195 (TLS 1.2+, the profile DCMTK's storescp/storescu use by default).
// Verification: verify_peer = the peer's certificate must chain to one of ca_certificates
// (an acceptor then requires a client certificate); otherwise certificates are not checked
// (encryption only). DCMTK does not compare the certificate's names with the host.
//
// Thread-safety: a TlsLayer belongs to one network (one association for an SCU, the
// acceptor's network for the SCP); DCMTK creates one SSL connection per association.
#include <memory>
#include <optional>
#include <string>

#include "pacspull/dicom/types.hpp"

struct T_ASC_Network;
struct T_ASC_Parameters;
class DcmTLSTransportLayer;

namespace pacspull::dicom::detail {

class TlsLayer {
 public:
  TlsLayer();
  ~TlsLayer();  // after the network that uses it was dropped
  TlsLayer(const TlsLayer&) = delete;
  TlsLayer& operator=(const TlsLayer&) = delete;
  // Loads key, certificate and CAs and attaches the layer to `net`. Returns an error text
  // naming the file at fault (missing, unreadable, key not matching the certificate).
  std::optional<std::string> attach(const TlsOptions& tls, T_ASC_Network* net, bool acceptor);
  bool active() const { return layer_ != nullptr; }

 private:
  std::unique_ptr<DcmTLSTransportLayer> layer_;
};

}  // namespace pacspull::dicom::detail
