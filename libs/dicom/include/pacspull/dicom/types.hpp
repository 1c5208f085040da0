#pragma once
// Vocabulary shared by the DICOM SCU calls and the receiver: who we talk to, with which
// timeouts, and how a failure is classified at this boundary.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pacspull/core/ids.hpp"

namespace pacspull::dicom {

// DICOM TLS with DCMTK's dcmtls (issue 11 part 2): PEM files; `ca_certificates` files or
// hashed directories; verify_peer: the peer's certificate must chain to them (an acceptor
// then requires a client certificate), else encryption without authentication.
struct TlsOptions {
  bool enabled = false;
  std::string certificate;
  std::string private_key;
  std::vector<std::string> ca_certificates;
  bool verify_peer = true;
};

struct Peer {
  core::AeTitle ae_title;
  std::string host;
  uint16_t port = 0;
  TlsOptions tls;  // per peer: a PACS or an AI node that speaks DICOM over TLS
};

// Every DCMTK default waits forever; these are the bounds we use instead. The connect
// timeout is applied through DCMTK's process-wide dcmConnectionTimeout, so concurrent SCU
// calls with different connect timeouts race for that one value (harmless: each call sets
// its own right before connecting).
struct ScuOptions {
  core::AeTitle calling_ae;
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds acse_timeout{30};
  std::chrono::seconds dimse_timeout{60};
  size_t max_results = 0;  // C-FIND only; 0 = unlimited. A cap survives PACS that flood.
};

// Retryable: the same request may succeed later (peer down, timeout, out of resources,
// transient rejection). Permanent: it will not, until someone changes configuration or data
// (unknown AE title, unknown move destination, unsupported SOP class, bad query key).
enum class ErrorClass { Retryable, Permanent };

struct Error {
  ErrorClass cls;
  std::string message;
};

enum class QueryLevel { Study, Series, Image };

}  // namespace pacspull::dicom
