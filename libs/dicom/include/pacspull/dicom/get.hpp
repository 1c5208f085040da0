#pragma once
// C-GET SCU (Study Root): the retrieval for firewalled sites, where the PACS cannot open an
// association back to our receiver. The PACS sends each instance as a C-STORE
// sub-operation on our own association; every one is written exactly as the receiver
// writes (temp file under <storage_root>/.incoming, fsync, parse, renameat2 NOREPLACE to
// storage_path(), directory fsync; a different second copy kept under .conflicts), handed
// to `sink` (the same StoreScp::Sink the receiver uses, so the ledger rows are the same),
// and only then answered Success. A sink that asks to retry or throws gets 0xA700: the
// PACS counts it failed and the job is retried.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "pacspull/core/ids.hpp"
#include "pacspull/dicom/store_scp.hpp"
#include "pacspull/dicom/types.hpp"
#include "pacspull/pipeline/outcome.hpp"

namespace pacspull::dicom {

struct GetOptions {
  std::filesystem::path storage_root;
  std::string host;  // for temp names (empty = gethostname())
};

struct GetResult {
  bool ok = false;          // final status Success, no failed sub-operation
  uint16_t status = 0;      // final C-GET-RSP status (0 when none arrived)
  int completed = 0, failed = 0, warning = 0, remaining = 0;  // as the PACS counts them
  int stored = 0;           // sub-operations we stored and answered Success
  std::optional<Error> error;
  pipeline::Outcome outcome;  // kind, class, status
  std::chrono::milliseconds elapsed{0};
};

// C-GET of a study, one series of it, or one instance of that series.
GetResult get(const ScuOptions& options, const GetOptions& get_options, const Peer& peer, const core::StudyUid& study,
              const std::optional<core::SeriesUid>& series, const std::optional<core::SopInstanceUid>& instance,
              const StoreScp::Sink& sink);

}  // namespace pacspull::dicom
