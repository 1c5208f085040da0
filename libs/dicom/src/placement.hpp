#pragma once
// The durable placement of one received instance, shared by the receiver's C-STORE SCP
// (store_scp.cpp) and the C-GET SCU's store sub-operations (get.cpp). The dataset has been
// streamed into `temp` (in <storage_root>/.incoming); this makes it durable and hands it on:
//   fdatasync the temp file (its result and close()'s checked), parse the header, ask
//   `admit` (optional), create the study/series directories durably, rename to
//   storage_path() without replacing a copy already there (same dataset bytes = a duplicate,
//   the temp removed; different = kept aside under .conflicts, that directory fsynced), fsync
//   the directory of a new entry (shared with concurrent placements into the same directory),
//   then call the sink. Only then may the caller answer success: the C-STORE status is
//   returned. Every failure is logged here, prefixed with `who`, and classified for the
//   caller's counters.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "pacspull/dicom/store_scp.hpp"

namespace pacspull::dicom::detail {

struct Placement {
  std::filesystem::path storage_root;
  std::string who;                          // log prefix: "dicom scp <AE>", "dicom get"
  const StoreScp::Admit* admit = nullptr;   // optional
  const StoreScp::Sink* sink = nullptr;
};

enum class PlaceFailure {
  None,         // success, or the sink asked to retry / threw (logged)
  Disk,         // a write, fsync, mkdir, rename or compare failed: 0xA700
  Parse,        // unparsable dataset or no SOPInstanceUID: 0xC000
  NotAdmitted,  // `admit` refused it: 0x0124
  AdmitError,   // `admit` threw (e.g. the ledger is down): 0xA700
  Sink,         // the sink asked to retry later or threw: 0xA700 (the file stays)
};

struct PlaceResult {
  uint16_t status = 0;
  PlaceFailure failure = PlaceFailure::None;
  // Where the time went (the receiver's stage histograms): the temp file's fdatasync, the
  // new entry's directory fsync and the sink (the ledger's group commit); the rest of the
  // placement is parse, admit, directories and rename.
  std::chrono::nanoseconds sync{0}, dir_sync{0}, sink{0};
};

// `request_sop`: the C-STORE request's AffectedSOPInstanceUID (the dataset's is used if they
// differ, with a warning). `calling`, `peer`: the sender's AE title and address, for the
// Stored record and the log.
PlaceResult place_received(const Placement& p, const std::filesystem::path& temp, std::string_view request_sop,
                           const std::string& calling, const std::string& peer);

}  // namespace pacspull::dicom::detail
