// Receive throughput of pacspull::dicom::StoreScp: DCMTK storescu sends small CT
// instances (copies of pydicom's CT_small.dcm, ~39 KB) over loopback with TCP_NODELAY=1.
// Each instance is written to a temp file, fsynced, renamed, its directory fsynced and
// handed to a counting sink before the C-STORE-RSP, exactly as in production.
//
// Usage: dicom_receive_bench [--count N] [--parallel P] [--root DIR]
//   N instances in P concurrent storescu associations (N/P each), stored under DIR
//   (default: a fresh directory in $TMPDIR; pass a tmpfs such as /dev/shm to take the
//   disk out of the figure). Prints figures; not a pass/fail test.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pacspull/dicom/store_scp.hpp"
#include "process.hpp"

namespace fs = std::filesystem;
using namespace pacspull;

namespace {

fs::path source_dir() {
  const char* env = std::getenv("PACSPULL_SOURCE_DIR");
  return env && *env ? fs::path(env) : fs::path(PACSPULL_SOURCE_DIR_DEFAULT);
}

}  // namespace

int main(int argc, char** argv) {
  int count = 500, parallel = 1;
  fs::path root;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--count") count = std::atoi(argv[i + 1]);
    else if (arg == "--parallel") parallel = std::atoi(argv[i + 1]);
    else if (arg == "--root") root = argv[i + 1];
  }
  if (count <= 0 || parallel <= 0) {
    std::fprintf(stderr, "usage: %s [--count N] [--parallel P] [--root DIR]\n", argv[0]);
    return 2;
  }
  ::setenv("TCP_NODELAY", "1", 1);
  const fs::path work = testing::make_temp_dir("pacspull-rx-bench");
  if (root.empty()) root = work / "store";
  else root = root / ("pacspull-rx-bench-" + std::to_string(::getpid()));

  // Instances: P series of N/P instances each (one study).
  const int per_series = count / parallel;
  const fs::path in = work / "in";
  const int rc = testing::run_command(
      {"/usr/bin/python3", (source_dir() / "tests/integration/dicom/make_instances.py").string(), in.string(),
       "--series", std::to_string(parallel), "--instances", std::to_string(per_series)},
      std::chrono::minutes(5), work / "make.log");
  if (rc != 0) {
    std::fprintf(stderr, "make_instances.py failed:\n%s\n", testing::read_file(work / "make.log").c_str());
    return 1;
  }
  std::vector<std::vector<std::string>> batches(parallel);
  uintmax_t total_bytes = 0;
  int n = 0;
  for (const auto& e : fs::directory_iterator(in)) {
    if (e.path().extension() != ".dcm") continue;
    batches[n++ % parallel].push_back(e.path().string());
    total_bytes += e.file_size();
  }

  std::atomic<int> received{0};
  dicom::StoreScp::Options options;
  options.ae_title = core::AeTitle("BENCH_RCV");
  options.bind_host = "127.0.0.1";
  options.storage_root = root;
  options.max_associations = static_cast<size_t>(parallel) + 1;
  options.callers.accept_any = true;  // storescu senders of the benchmark (issue 11: nobody by default)
  dicom::StoreScp scp(options, [&](const dicom::StoreScp::Stored&) {
    ++received;
    return dicom::StoreScp::SinkResult::Ok;
  });
  const uint16_t port = scp.start();

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<testing::ChildProcess> senders;
  for (int p = 0; p < parallel; ++p) {
    std::vector<std::string> args{"storescu", "-aet", "BENCH", "-aec", "BENCH_RCV", "-to", "5", "-ta", "30", "-td", "60",
                                  "127.0.0.1", std::to_string(port)};
    args.insert(args.end(), batches[p].begin(), batches[p].end());
    senders.push_back(testing::ChildProcess::spawn(args, {{"TCP_NODELAY", "1"}}, work / "storescu.log"));
  }
  int failures = 0;
  for (auto& s : senders) failures += s.wait(std::chrono::minutes(10)) != 0;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  scp.stop();
  const auto c = scp.counters();

  std::printf("dicom_receive_bench: %d instances (%.1f MB) in %d association(s), storage %s\n", n,
              total_bytes / 1e6, parallel, root.string().c_str());
  std::printf("  received (sink calls)  %d\n", received.load());
  std::printf("  stored / failed        %llu / %llu, storescu failures %d\n",
              static_cast<unsigned long long>(c.stored), static_cast<unsigned long long>(c.failed), failures);
  std::printf("  wall time              %.3f s (includes storescu start-up)\n", seconds);
  std::printf("  throughput             %.1f instances/s, %.1f MB/s\n", received.load() / seconds,
              total_bytes / 1e6 / seconds);
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::remove_all(root, ec);
  return failures == 0 && received.load() == n ? 0 : 1;
}
