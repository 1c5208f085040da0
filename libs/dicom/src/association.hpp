#pragma once
// One requestor association with RAII clean-up: abort if still open, free DCMTK structures.
#include <optional>
#include <string>
#include <vector>

#include "pacspull/dicom/types.hpp"
#include "tls.hpp"

struct T_ASC_Network;
struct T_ASC_Parameters;
struct T_ASC_Association;

namespace pacspull::dicom::detail {

struct ProposedContext {
  std::string abstract_syntax;
  std::vector<std::string> transfer_syntaxes;
};

class ScuAssociation {
 public:
  ScuAssociation() = default;
  ScuAssociation(const ScuAssociation&) = delete;
  ScuAssociation& operator=(const ScuAssociation&) = delete;
  ~ScuAssociation();

  // Connects (bounded by connect_timeout), negotiates (bounded by acse_timeout).
  // A rejection is Permanent unless the peer said "transient"; any other failure is Retryable.
  std::optional<Error> open(const ScuOptions& options, const Peer& peer, const std::vector<ProposedContext>& contexts);
  // Accepted presentation context id for the abstract syntax (and transfer syntax if given), 0 if none.
  unsigned char accepted_context(const std::string& abstract_syntax, const std::string& transfer_syntax = {}) const;
  T_ASC_Association* get() const { return assoc_; }
  unsigned short next_message_id();
  void release();  // orderly A-RELEASE; falls back to abort
  void abort();

 private:
  void cleanup();
  TlsLayer tls_;  // declared first: destroyed after the network that uses it
  T_ASC_Network* net_ = nullptr;
  T_ASC_Parameters* params_ = nullptr;
  T_ASC_Association* assoc_ = nullptr;
  bool established_ = false;
};

}  // namespace pacspull::dicom::detail
