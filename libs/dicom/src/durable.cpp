#include "durable.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_set>

namespace pacspull::dicom::detail {

std::string fsync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "open " + path.string() + ": " + std::strerror(errno);
  std::string err;
  if (::fsync(fd) != 0) err = "fsync " + path.string() + ": " + std::strerror(errno);
  ::close(fd);
  return err;
}

namespace {
// Directories whose entry is known to be fsynced in their parent. A directory another
// thread created (so create_directory() returned false here) may not be durable yet, so
// "exists" alone is not enough; the cache keeps the steady state at zero extra fsyncs.
// Bounded: cleared when large (costs one redundant fsync per directory afterwards).
std::mutex durable_mutex;
std::unordered_set<std::string> durable_dirs;
constexpr size_t kMaxCachedDirs = 20000;

bool known_durable(const std::filesystem::path& dir) {
  std::lock_guard lock(durable_mutex);
  return durable_dirs.count(dir.string()) != 0;
}
void mark_durable(const std::filesystem::path& dir) {
  std::lock_guard lock(durable_mutex);
  if (durable_dirs.size() >= kMaxCachedDirs) durable_dirs.clear();
  durable_dirs.insert(dir.string());
}
}  // namespace

std::string create_directories_durably(const std::filesystem::path& root, const std::filesystem::path& dir) {
  std::filesystem::path current = root;
  const std::filesystem::path relative = dir.lexically_relative(root);
  for (const auto& part : relative) {
    if (part.empty() || part == ".") continue;
    const std::filesystem::path parent = current;
    current /= part;
    if (known_durable(current)) continue;
    std::error_code ec;
    std::filesystem::create_directory(current, ec);
    if (ec) return "mkdir " + current.string() + ": " + ec.message();
    if (std::string err = fsync_path(parent); !err.empty()) return err;
    mark_durable(current);
  }
  return {};
}

}  // namespace pacspull::dicom::detail
