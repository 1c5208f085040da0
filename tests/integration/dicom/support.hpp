#pragma once
// Helpers for the DICOM integration tests (the shared Orthanc/storescp peers live in
// tests/support): test instances made by pydicom, storescu runs, a recording sink, and the
// one fake: a TCP listener that accepts and never answers (the "PACS that never answers").
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pacspull/dicom/store_scp.hpp"
#include "process.hpp"

namespace pacspull::dicom::testing {

namespace fs = std::filesystem;

struct TestInstance {
  fs::path path;
  std::string study, series, sop;
};

// Runs make_instances.py (Debian python with pydicom); `args` are its options.
std::vector<TestInstance> make_instances(const fs::path& out_dir, const std::vector<std::string>& args);
fs::path pydicom_file(const std::string& name);
fs::path helper_script(const std::string& name);
// Environment for every spawned DICOM peer (TCP_NODELAY=1).
std::map<std::string, std::string> peer_env();

// storescu (DCMTK) with timeouts; returns its exit code. Output appended to `log`.
int run_storescu(const std::string& calling, const std::string& called, uint16_t port,
                 const std::vector<fs::path>& files, const fs::path& log, const std::vector<std::string>& extra = {});

// Thread-safe record of what a StoreScp handed on.
class RecordingSink {
 public:
  StoreScp::SinkResult operator()(const StoreScp::Stored& stored);
  size_t calls() const;
  size_t calls_for(const std::string& sop) const;
  std::vector<StoreScp::Stored> all() const;
  StoreScp::Sink as_sink();

  std::atomic<bool> retry_later{false};

 private:
  mutable std::mutex mutex_;
  std::vector<StoreScp::Stored> stored_;
  std::map<std::string, size_t> by_sop_;
};

// Accepts TCP connections on 127.0.0.1 and never writes a byte.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  uint16_t port() const { return port_; }
  size_t accepted() const { return accepted_.load(); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> accepted_{0};
  std::vector<int> clients_;
  std::thread thread_;
};

}  // namespace pacspull::dicom::testing
