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

#include "pacspull/core/attributes.hpp"
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

// One instance's header, by C-GET into a scratch file (never the store) (the finder's sampled header and the capability
// probe's C-GET test): nothing is written to the store, nothing reaches the ledger, no sink.
struct HeaderResult {
  // The instance's attributes as read.hpp reads a file (raw values, SpecificCharacterSet
  // included, no bulk data, no sequences); nullopt when it did not arrive.
  std::optional<core::AttributeMap> header;
  // Bytes that came over the wire: the whole instance, pixel data included (C-GET cannot
  // ask for less; counted as the scratch file's size, so with a small file meta header), streamed into a scratch file under TMPDIR until its header is read
  // (memory stays bounded whatever the instance's size), then removed.
  uint64_t bytes = 0;
  // Status, counts and outcome as get() gives them. A final Success without the instance is
  // an error here; an instance that arrived under a failure status still gives `header`.
  GetResult get;
};

// Bounded by `options` (connect, ACSE and DIMSE timeouts); never throws for the peer's
// doing. Thread-safe as get() is.
HeaderResult get_header(const ScuOptions& options, const Peer& peer, const core::StudyUid& study,
                        const core::SeriesUid& series, const core::SopInstanceUid& instance);

}  // namespace pacspull::dicom
