#include "durable.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <vector>
#include <cstring>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <system_error>
#include <unordered_set>

namespace pacspull::dicom::detail {

std::string fsync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "open " + path.string() + ": " + std::strerror(errno);
  std::string err;
  if (::fsync(fd) != 0) err = "fsync " + path.string() + ": " + std::strerror(errno);
  // Network filesystems may report a write error only at close.
  if (::close(fd) != 0 && err.empty()) err = "close " + path.string() + ": " + std::strerror(errno);
  return err;
}

std::string fdatasync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "open " + path.string() + ": " + std::strerror(errno);
  std::string err;
  if (::fdatasync(fd) != 0) err = "fdatasync " + path.string() + ": " + std::strerror(errno);
  if (::close(fd) != 0 && err.empty()) err = "close " + path.string() + ": " + std::strerror(errno);
  return err;
}

namespace {
// Group fsync of directories (fsync_directory_shared). Per directory in use: the round a new
// caller joins (`next`, not started yet) and whether a round is running. Entries live only
// while callers use them.
struct SyncRound {
  bool done = false;
  std::string error;
};
struct DirSync {
  std::shared_ptr<SyncRound> next = std::make_shared<SyncRound>();
  bool running = false;
  size_t users = 0;
};
std::mutex dir_sync_mutex;
std::condition_variable dir_sync_cv;
std::unordered_map<std::string, DirSync> dir_syncs;
}  // namespace

std::string fsync_directory_shared(const std::filesystem::path& dir, DirectoryFsync run_fsync) {
  std::unique_lock lock(dir_sync_mutex);
  const std::string key = dir.string();
  DirSync* sync = &dir_syncs[key];  // node-based map: the address is stable while in use
  ++sync->users;
  const std::shared_ptr<SyncRound> mine = sync->next;  // begins after this call: covers the rename
  while (!mine->done) {
    if (sync->running) {
      dir_sync_cv.wait(lock);
      continue;
    }
    // No round running: run the pending one (ours) for everyone who joined it.
    sync->running = true;
    sync->next = std::make_shared<SyncRound>();
    lock.unlock();
    std::string err = run_fsync(dir);
    lock.lock();
    mine->error = std::move(err);
    mine->done = true;
    sync->running = false;
    dir_sync_cv.notify_all();
  }
  std::string result = mine->error;
  if (--sync->users == 0) dir_syncs.erase(key);
  return result;
}

size_t fsync_directory_shared_callers(const std::filesystem::path& dir) {
  std::lock_guard lock(dir_sync_mutex);
  auto it = dir_syncs.find(dir.string());
  return it == dir_syncs.end() ? 0 : it->second.users;
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

void forget_durable_directories() {
  std::lock_guard lock(durable_mutex);
  durable_dirs.clear();
}

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

Placed rename_no_replace(const std::filesystem::path& from, const std::filesystem::path& to, std::string* err) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return Placed::Moved;
  if (errno == EEXIST) return Placed::TargetExists;
  if (err) *err = "rename " + from.string() + " -> " + to.string() + ": " + std::strerror(errno);
  return Placed::Error;
}

namespace {

// Offset of the dataset in a Part 10 file: after the 128-byte preamble, "DICM" and the
// group 0002 elements (always explicit VR little endian). 0 when the file has no preamble.
std::streamoff dataset_offset(std::ifstream& in) {
  char head[132];
  if (!in.read(head, sizeof head) || std::string_view(head + 128, 4) != "DICM") return 0;
  std::streamoff pos = 132;
  while (true) {
    unsigned char e[8];
    in.seekg(pos);
    if (!in.read(reinterpret_cast<char*>(e), 8)) return pos;
    const unsigned group = e[0] | (e[1] << 8);
    if (group != 0x0002) return pos;
    const std::string vr(reinterpret_cast<char*>(e + 4), 2);
    std::streamoff length = 0;
    std::streamoff header = 8;
    if (vr == "OB" || vr == "OW" || vr == "SQ" || vr == "UN" || vr == "UT" || vr == "UC" || vr == "UR") {
      unsigned char l[4];
      if (!in.read(reinterpret_cast<char*>(l), 4)) return pos;
      length = static_cast<std::streamoff>(l[0] | (l[1] << 8) | (l[2] << 16) | (static_cast<uint32_t>(l[3]) << 24));
      header = 12;
    } else {
      length = e[6] | (e[7] << 8);
    }
    pos += header + length;
  }
}

}  // namespace

Compare compare_datasets(const std::filesystem::path& a, const std::filesystem::path& b, std::string* err) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) {
    if (err) *err = "cannot open " + (fa ? b : a).string() + " to compare";
    return Compare::Error;
  }
  const std::streamoff oa = dataset_offset(fa), ob = dataset_offset(fb);
  fa.clear();
  fb.clear();
  fa.seekg(0, std::ios::end);
  fb.seekg(0, std::ios::end);
  if (fa.tellg() - oa != fb.tellg() - ob) return Compare::Different;
  fa.seekg(oa);
  fb.seekg(ob);
  std::vector<char> ba(1 << 16), bb(1 << 16);
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount()) return Compare::Different;
    if (std::memcmp(ba.data(), bb.data(), static_cast<size_t>(fa.gcount())) != 0) return Compare::Different;
  }
  return Compare::Same;
}

}  // namespace pacspull::dicom::detail
