#pragma once
// The copy of a stored instance that a target receives: de-identified with the target's
// options (profile.hpp) and/or re-encoded in the transfer syntax it asks for. The store's
// original is only read, never modified; the copy is written to `out` (a temp file the
// caller removes after the send). This is the DCMTK adapter of libs/deid.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "pacspull/deid/profile.hpp"

namespace pacspull::deid {

// Transfer syntaxes a target may ask for, by the names the site file uses:
// "explicit-little-endian", "implicit-little-endian", "deflated-explicit-little-endian".
// Empty: as received. Returns false for an unknown name.
bool known_transfer_syntax(const std::string& name);

struct CopyRequest {
  std::filesystem::path in, out;
  std::optional<Options> deid;  // nullopt: no de-identification (transfer syntax only)
  std::string target;           // the target's name: derived UIDs and pseudonyms are per target
  std::string transfer_syntax;  // a known_transfer_syntax name, or "" (as received)
};

struct CopyResult {
  bool ok = false;
  std::string error;  // when !ok: what failed (read, conversion, write), with the file
  std::string sop_uid, study_uid;  // of the original
  std::map<std::string, std::string> uids;  // original UID -> derived UID (de-identified copies)
  std::string patient_id, pseudonym;        // the original PatientID and its pseudonym
  size_t removed = 0, emptied = 0, replaced = 0, cleaned = 0;
};

// Never throws: a file that cannot be read, converted or written comes back !ok.
CopyResult write_copy(const CopyRequest& request);

}  // namespace pacspull::deid
