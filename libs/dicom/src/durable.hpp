#pragma once
// Small POSIX helpers for crash-safe file placement: data fsync, directory fsync,
// directory creation whose new entries are themselves fsynced.
#include <filesystem>
#include <string>

namespace pacspull::dicom::detail {

// fsync the file's data and metadata. Returns "" or an error message.
std::string fsync_path(const std::filesystem::path& path);
// fdatasync: the file's data and the metadata needed to read it back (its size), not its
// timestamps. Enough for a new file whose directory entry is fsynced separately. The
// result of close() is checked too.
std::string fdatasync_path(const std::filesystem::path& path);
// fsync of a directory, shared by the threads that need it at the same time: a caller that
// renamed an entry into `dir` and then calls this returns after an fsync of `dir` that began
// after its call (so after its rename) has completed, and with that fsync's result. Callers
// arriving while one runs wait and share the next one, so N instances renamed into one
// series directory by concurrent associations cost about two directory fsyncs, not N. No
// timer: a lone caller fsyncs at once. Thread-safe.
// `run_fsync` is the fsync a round runs (fsync_path; its error is every sharer's result). It is a
// seam for tests only, which pass their own to count, order, hold or fail rounds; every
// caller for one directory must pass the same one.
using DirectoryFsync = std::string (*)(const std::filesystem::path& dir);
std::string fsync_directory_shared(const std::filesystem::path& dir, DirectoryFsync run_fsync = fsync_path);
// Test seam: how many callers are inside fsync_directory_shared(dir) now, running or waiting
// (a test holds a round until the others have joined the next one).
size_t fsync_directory_shared_callers(const std::filesystem::path& dir);
// Creates `dir` and missing parents below `root` (root itself must exist); every directory
// created has its parent fsynced, so the new entry survives a crash. Safe under concurrency.
std::string create_directories_durably(const std::filesystem::path& root, const std::filesystem::path& dir);
// Forgets which directories are known to exist: the store's life cycle removes empty
// study and series directories (possibly another replica's doing), so a placement that
// finds its directory gone calls this and creates it again.
void forget_durable_directories();

enum class Placed { Moved, TargetExists, Error };
// Renames `from` to `to` only if `to` does not exist (renameat2 RENAME_NOREPLACE: atomic
// against a concurrent placement of the same name). `err` gets the reason on Error.
Placed rename_no_replace(const std::filesystem::path& from, const std::filesystem::path& to, std::string* err);

enum class Compare { Same, Different, Error };
// Compares two DICOM Part 10 files by their dataset bytes, after the File Meta Information
// (whose SourceApplicationEntityTitle and implementation fields differ between senders).
Compare compare_datasets(const std::filesystem::path& a, const std::filesystem::path& b, std::string* err);

}  // namespace pacspull::dicom::detail
