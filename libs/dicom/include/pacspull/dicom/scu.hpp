#pragma once
// DICOM service-class-user calls against a PACS: C-ECHO, C-FIND, C-MOVE (Study Root) and C-STORE.
// Each call opens one association, does its work, releases (or aborts on error) and
// returns a value; none throws for network or peer failures. Calls are independent and
// may run concurrently from different threads.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pacspull/core/attributes.hpp"
#include "pacspull/core/ids.hpp"
#include "pacspull/dicom/types.hpp"
#include "pacspull/pipeline/outcome.hpp"

namespace pacspull::dicom {

struct EchoResult {
  bool ok = false;
  // Where it failed, for an operator's diagnosis: the TCP connection (wrong host or port,
  // a firewall), the association (the PACS refused our request: its reason, e.g. "Called
  // AE Title Not Recognized", is in the message), or the C-ECHO exchange.
  enum class Stage { None, Connect, Associate, Echo };
  Stage failed_at = Stage::None;
  std::optional<Error> error;
  std::chrono::milliseconds elapsed{0};
};

// C-ECHO (Verification): one association, one echo, release.
EchoResult echo(const ScuOptions& options, const Peer& peer);

struct FindResult {
  std::vector<core::AttributeMap> matches;
  bool truncated = false;  // max_results reached: a C-CANCEL was sent, later matches dropped
  // The PACS ended the query itself with 0xFE00 (Cancel) without our C-CANCEL: it caps its
  // answers (Orthanc's LimitFindResults). `matches` holds what it sent; not an error.
  bool ended_by_peer = false;
  std::optional<Error> error;
};

// C-FIND, Study Root. `keys`: keyword -> value; an empty value is a return key.
// QueryRetrieveLevel is always set from `level`; the level's unique key (StudyInstanceUID,
// SeriesInstanceUID, SOPInstanceUID) is added as a return key when absent. Series and Image
// level need a non-empty StudyInstanceUID (and Image level a SeriesInstanceUID): Study
// Root queries go level by level from the top; without it the result is a Permanent error
// and nothing is sent. On error, `matches` holds what arrived before the failure.
FindResult find(const ScuOptions& options, const Peer& peer, QueryLevel level, const core::AttributeMap& keys);

struct MoveResult {
  bool ok = false;  // final status Success and no failed sub-operation
  uint16_t status = 0;  // final C-MOVE-RSP status (0 when no response arrived)
  int completed = 0, failed = 0, warning = 0, remaining = 0;
  std::optional<Error> error;
  std::chrono::milliseconds elapsed{0};
  pipeline::Outcome outcome;  // kind (ok/retryable/permanent), class and status, for the mover
};

// C-MOVE (synchronous) of a study, one series of it, or one instance of that series
// (`instance` needs `series`; `pullctl pacs test` moves one instance), to `destination`.
// ok == true only says the PACS claims success: whether the images arrived is for the
// receiver to count (a C-MOVE "success" proves nothing about arrival).
MoveResult move(const ScuOptions& options, const Peer& peer, const core::AeTitle& destination,
                const core::StudyUid& study, const std::optional<core::SeriesUid>& series = std::nullopt,
                const std::optional<core::SopInstanceUid>& instance = std::nullopt);

struct StoreResult {
  size_t sent = 0;  // files answered with Success or a Warning status
  std::vector<std::pair<std::filesystem::path, std::string>> failures;  // file, reason
  std::optional<Error> error;  // association-level failure (then unsent files are in `failures`)
};

// C-STORE of files over one association, proposing for each (SOP class, transfer syntax)
// pair of the files exactly that transfer syntax (no transcoding). A file that cannot be
// read or is refused is reported in `failures`; the others are still sent. At most 128
// distinct pairs fit one association; files beyond that are reported as failures.
// `on_sent`, when given, is called with each file as soon as the peer answered Success or
// a Warning for it, before the next file is sent: a caller that records it there re-sends at
// most the one file in flight if it crashes (the peer is not told twice what it confirmed).
StoreResult store(const ScuOptions& options, const Peer& peer, const std::vector<std::filesystem::path>& files,
                  const std::function<void(const std::filesystem::path&)>& on_sent = {});

}  // namespace pacspull::dicom
