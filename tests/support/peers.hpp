#pragma once
// Real DICOM peers and tools for integration/e2e tests: the DCMTK storescp "AI
// node", thin wrappers around findscu/movescu, and the synthetic-day generator
// (tests/fixtures/gen_day.py). Everything runs the real Debian binaries with
// TCP_NODELAY=1 and explicit timeouts, since DCMTK's defaults wait forever.
//
// Thread-safety: none of these types is safe for concurrent use from several
// threads.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"

namespace pacspull::testing {

struct DicomNode {
  std::string ae_title;
  std::string host;
  uint16_t port = 0;
};

// Environment for every DCMTK tool and Orthanc we start.
std::map<std::string, std::string> dicom_tool_env();

// The "AI node": DCMTK storescp writing every received object to `out_dir`, one
// subfolder per study ("study_<StudyInstanceUID>"), files named "<modality
// prefix>.<SOPInstanceUID>" (storescp default names, e.g. "CT.1.2.3"). Binds a
// free port; its log is out_dir/storescp.log.
class StoreScpNode {
 public:
  StoreScpNode(std::filesystem::path out_dir, std::string ae_title);
  ~StoreScpNode();
  StoreScpNode(const StoreScpNode&) = delete;
  StoreScpNode& operator=(const StoreScpNode&) = delete;

  uint16_t port() const { return port_; }
  const std::string& ae_title() const { return ae_title_; }
  DicomNode node() const { return {ae_title_, "127.0.0.1", port_}; }
  const std::filesystem::path& out_dir() const { return out_dir_; }

  // Every received file (recursive, sorted). storescp writes a file in place
  // while receiving it, so a file listed while an association is running may
  // still be growing; poll the count (or check_files below) with a deadline
  // before reading contents.
  std::vector<std::filesystem::path> files() const;
  // Files of one study (its storescp subfolder).
  std::vector<std::filesystem::path> files_of_study(const std::string& study_instance_uid) const;
  // SOP Instance UIDs of received files, taken from the file names.
  std::vector<std::string> sop_instance_uids() const;
  // How many times each SOP Instance UID was received: one per C-STORE, counted from
  // storescp's log ("storing DICOM file: ..."), so an instance stored twice counts 2
  // even though its second copy overwrote the first file.
  std::map<std::string, int> received_counts() const;
  // Stops storescp (SIGTERM, then SIGKILL after a grace period). Idempotent.
  void stop();
  bool running() { return process_.running(); }

 private:
  std::filesystem::path out_dir_;
  std::string ae_title_;
  uint16_t port_ = 0;
  ChildProcess process_;
};

// The SOP Instance UID in a storescp default file name ("CT.1.2.3" -> "1.2.3").
std::string sop_uid_from_storescp_name(const std::string& file_name);

// Top-level attributes of a DICOM file or C-FIND response, keyword -> raw value
// as dcmdump prints it (multi-values joined with '\', UIDs as numbers, "" for
// empty). Runs dcmdump. Returns nullopt if dcmdump cannot read the file.
std::optional<std::map<std::string, std::string>> dump_attributes(const std::filesystem::path& file);

// C-FIND with findscu (Study Root model). `keys` are findscu -k arguments:
// "Keyword" for a return key, "Keyword=value" for a matching key;
// QueryRetrieveLevel is set from `level` (STUDY, SERIES, IMAGE). Each response
// becomes one attribute map (see dump_attributes). Throws std::runtime_error
// with the findscu log if the query fails.
std::vector<std::map<std::string, std::string>> c_find(const DicomNode& peer, const std::string& calling_aet,
                                                       const std::string& level, const std::vector<std::string>& keys,
                                                       const std::filesystem::path& work_dir);

// C-MOVE with movescu (Study Root model) to `destination_aet`, which the peer
// must know. Returns movescu's exit code (0 = the move completed); its output
// goes to `log`.
int c_move(const DicomNode& peer, const std::string& calling_aet, const std::string& destination_aet,
           const std::string& level, const std::vector<std::string>& keys, const std::filesystem::path& log,
           std::chrono::seconds deadline = std::chrono::seconds(60));

// Runs tests/fixtures/gen_day.py (with PACSPULL_PYTHON or /usr/bin/python3,
// which has python3-pydicom) into `out_dir` and returns the manifest path.
// Throws with the generator's output on failure.
struct GenDayOptions {
  std::string profile = "e2e";
  std::string date;  // YYYYMMDD; empty = today
  int seed = 1;
  std::optional<int> studies;
  std::string canary;  // --canary PREFIX: PHI canary strings in every patient's attributes
};
std::filesystem::path run_gen_day(const std::filesystem::path& out_dir, const GenDayOptions& options = {});

// Today's local date as YYYYMMDD (the generator's default --date).
std::string today_yyyymmdd();

// Last `max_bytes` of a log file, for error messages.
std::string log_tail(const std::filesystem::path& log, std::size_t max_bytes = 4000);

}  // namespace pacspull::testing
