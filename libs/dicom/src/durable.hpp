#pragma once
// Small POSIX helpers for crash-safe file placement: data fsync, directory fsync,
// directory creation whose new entries are themselves fsynced.
#include <filesystem>
#include <string>

namespace pacspull::dicom::detail {

// fsync the file's data and metadata. Returns "" or an error message.
std::string fsync_path(const std::filesystem::path& path);
// Creates `dir` and missing parents below `root` (root itself must exist); every directory
// created has its parent fsynced, so the new entry survives a crash. Safe under concurrency.
std::string create_directories_durably(const std::filesystem::path& root, const std::filesystem::path& dir);

}  // namespace pacspull::dicom::detail
