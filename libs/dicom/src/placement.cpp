#include "placement.hpp"

#include <spdlog/spdlog.h>

#include <system_error>

#include "durable.hpp"
#include "pacspull/dicom/read.hpp"
#include "pacspull/dicom/storage.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::dicom::detail {
namespace {

constexpr uint16_t kSuccess = 0x0000;
constexpr uint16_t kOutOfResources = 0xA700;
constexpr uint16_t kCannotUnderstand = 0xC000;
constexpr uint16_t kNotAuthorized = 0x0124;  // PS3.7 C.4 "Refused: Not Authorized"
constexpr const char* kConflictsDir = ".conflicts";
constexpr int kMaxConflictCopies = 10000;

std::string printable(std::string_view raw) { return rules::Text::ascii(raw).str(); }

}  // namespace

PlaceResult place_received(const Placement& p, const std::filesystem::path& temp, std::string_view request_sop,
                           const std::string& calling, const std::string& peer) {
  const std::string& who = p.who;
  const std::filesystem::path& root = p.storage_root;
  std::error_code ec;
  auto discard = [&](uint16_t status, PlaceFailure failure) {
    std::filesystem::remove(temp, ec);
    return PlaceResult{status, failure};
  };
  // A write, fsync, mkdir or rename that failed (disk full, read-only, I/O error): logged,
  // answered 0xA700 so the sender retries. `keep_file`: the file is already in its place.
  auto disk_failure = [&](const std::string& err, bool keep_file = false) {
    spdlog::error("{}: {}; answering out-of-resources", who, err);
    if (keep_file) return PlaceResult{kOutOfResources, PlaceFailure::Disk};
    return discard(kOutOfResources, PlaceFailure::Disk);
  };
  // The data first: its directory entry is fsynced after the rename.
  const auto sync_start = std::chrono::steady_clock::now();
  if (std::string err = fdatasync_path(temp); !err.empty()) return disk_failure(err);
  const std::chrono::nanoseconds sync_time = std::chrono::steady_clock::now() - sync_start;
  ReadResult read = read_attributes(temp);
  if (!read.attributes) {
    spdlog::warn("{}: malformed instance {} from '{}' ({}): {}", who, printable(request_sop), calling, peer,
                 rules::Text::from_utf8(read.error).str());
    return discard(kCannotUnderstand, PlaceFailure::Parse);
  }
  core::AttributeMap& attributes = *read.attributes;
  const std::string sop = printable(attributes.trimmed("SOPInstanceUID"));
  if (sop.empty()) {
    spdlog::warn("{}: instance without SOPInstanceUID from '{}' ({})", who, calling, peer);
    return discard(kCannotUnderstand, PlaceFailure::Parse);
  }
  if (sop != printable(request_sop))
    spdlog::warn("{}: SOPInstanceUID {} differs from the C-STORE request's {}; stored under the dataset's", who, sop,
                 printable(request_sop));
  if (p.admit != nullptr && *p.admit) {
    StoreScp::Admission admission;
    try {
      admission = (*p.admit)(attributes, core::AeTitle(calling), peer);
    } catch (const std::exception& e) {
      spdlog::error("{}: cannot decide whether to admit {}: {}; answering out-of-resources", who, sop,
                    rules::Text::from_utf8(e.what()).str());
      return discard(kOutOfResources, PlaceFailure::AdmitError);
    }
    if (!admission.admitted) {
      spdlog::warn("{}: refused instance {} of study {} from '{}' ({}): {}; answering 0x0124 (not authorized)", who,
                   sop, printable(attributes.trimmed("StudyInstanceUID")), calling, peer,
                   rules::Text::from_utf8(admission.reason).str());
      return discard(kNotAuthorized, PlaceFailure::NotAdmitted);
    }
  }
  const std::filesystem::path final_path =
      storage_path(root, core::StudyUid(std::string(attributes.get("StudyInstanceUID").value_or(""))),
                   core::SeriesUid(std::string(attributes.get("SeriesInstanceUID").value_or(""))),
                   core::SopInstanceUid(sop));
  if (std::string err = create_directories_durably(root, final_path.parent_path()); !err.empty())
    return disk_failure(err);
  // Never overwrite an acknowledged copy: a second arrival is compared with the first.
  StoreScp::Arrival arrival = StoreScp::Arrival::New;
  std::filesystem::path conflict_path;
  std::string err;
  Placed placed = rename_no_replace(temp, final_path, &err);
  if (placed == Placed::Error && !std::filesystem::exists(final_path.parent_path(), ec)) {
    // Its study's directories were removed after hand-off since we last saw them.
    forget_durable_directories();
    if (std::string e = create_directories_durably(root, final_path.parent_path()); !e.empty()) return disk_failure(e);
    placed = rename_no_replace(temp, final_path, &err);
  }
  switch (placed) {
    case Placed::Moved:
      break;
    case Placed::Error:
      return disk_failure(err);
    case Placed::TargetExists:
      switch (compare_datasets(final_path, temp, &err)) {
        case Compare::Error:
          return disk_failure(err);
        case Compare::Same:
          arrival = StoreScp::Arrival::Again;
          std::filesystem::remove(temp, ec);
          break;
        case Compare::Different: {
          arrival = StoreScp::Arrival::Conflict;
          const std::filesystem::path dir = root / kConflictsDir / final_path.parent_path().lexically_relative(root);
          if (!std::filesystem::exists(dir, ec)) forget_durable_directories();  // removed after hand-off
          if (std::string e = create_directories_durably(root, dir); !e.empty()) return disk_failure(e);
          for (int n = 1;; ++n) {
            conflict_path = dir / (final_path.stem().string() + ".conflict-" + std::to_string(n) + ".dcm");
            const Placed aside = rename_no_replace(temp, conflict_path, &err);
            if (aside == Placed::Moved) break;
            if (aside == Placed::Error || n >= kMaxConflictCopies) return disk_failure(err);
          }
          if (std::string e = fsync_directory_shared(dir); !e.empty()) return disk_failure(e, true);
          spdlog::warn("{}: instance {} from '{}' differs from the copy already stored; kept aside at {}", who, sop,
                       calling, conflict_path.string());
          break;
        }
      }
      break;
  }
  std::chrono::nanoseconds dir_sync_time{0};
  if (arrival == StoreScp::Arrival::New) {
    // The file is in place but its entry may not survive a crash: do not claim success.
    const auto dir_sync_start = std::chrono::steady_clock::now();
    if (std::string e = fsync_directory_shared(final_path.parent_path()); !e.empty()) return disk_failure(e, true);
    dir_sync_time = std::chrono::steady_clock::now() - dir_sync_start;
  }
  const uintmax_t bytes =
      std::filesystem::file_size(arrival == StoreScp::Arrival::Conflict ? conflict_path : final_path, ec);
  StoreScp::Stored record{final_path, arrival, conflict_path, std::move(attributes), core::AeTitle(calling), peer,
                          ec ? 0 : bytes};
  const auto sink_start = std::chrono::steady_clock::now();
  auto timed = [&](uint16_t status, PlaceFailure failure) {
    return PlaceResult{status, failure, sync_time, dir_sync_time, std::chrono::steady_clock::now() - sink_start};
  };
  try {
    if ((*p.sink)(record) == StoreScp::SinkResult::Ok) return timed(kSuccess, PlaceFailure::None);
    spdlog::warn("{}: sink asked to retry {} later; answering out-of-resources", who, sop);
  } catch (const std::exception& e) {
    spdlog::error("{}: sink failed for {}: {}; answering out-of-resources", who, sop,
                  rules::Text::from_utf8(e.what()).str());
  } catch (...) {
    spdlog::error("{}: sink failed for {}; answering out-of-resources", who, sop);
  }
  // The file stays: an earlier, acknowledged copy of the same instance may be this path.
  return timed(kOutOfResources, PlaceFailure::Sink);
}

}  // namespace pacspull::dicom::detail
