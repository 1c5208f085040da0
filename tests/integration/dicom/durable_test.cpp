// fsync_directory_shared (libs/dicom/src/durable.hpp, issue 7) on its own: real files renamed
// into a real temp directory by several threads. Proven here:
//   - every caller returns, with the result of the fsync it waited for;
//   - no caller returns before an fsync that BEGAN after its call has ENDED (a logical clock:
//     one seq_cst counter ticked by callers before/after the call and by each fsync at its
//     start/end; the check is an order, never a duration);
//   - callers that arrive while a round runs share the next one: one round held until seven
//     others have joined gives two fsyncs for eight callers (the hold is released when the
//     function's own caller count says they are in, polled with a deadline, no sleep);
//   - a round whose fsync fails (a real fsync(2) on a closed descriptor: EBADF) gives that
//     error to every caller sharing it and to no other; a missing directory gives "open ...";
//   - directories do not share rounds, and nothing is left behind (caller count back to 0).
// The fsync is injected through the function's test seam (DirectoryFsync) only to count and
// order rounds; each injected fsync also runs the production one (fsync_path) on the real
// directory, except the deliberately failing one.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "durable.hpp"
#include "process.hpp"

namespace fs = std::filesystem;
using pacspull::dicom::detail::fsync_directory_shared;
using pacspull::dicom::detail::fsync_directory_shared_callers;
using pacspull::dicom::detail::fsync_path;

namespace {

// One logical clock for callers and fsyncs (seq_cst: a single total order that respects
// each thread's program order and the mutex hand-offs inside the function).
std::atomic<long> g_clock{0};
long tick() { return ++g_clock; }

struct Round {
  std::string dir;
  long begin = 0, end = 0;
  std::string error;
};
std::mutex g_rounds_mutex;
std::vector<Round> g_rounds;

// Held rounds: the first round waits for the test to open the gate; a round may be told to fail.
std::mutex g_gate_mutex;
std::condition_variable g_gate_cv;
bool g_gate_open = true, g_first_entered = false, g_fail_after_first = false;
int g_round_calls = 0;

void reset(bool hold_first, bool fail_after_first) {
  std::lock_guard lock(g_gate_mutex);
  g_gate_open = !hold_first;
  g_first_entered = false;
  g_fail_after_first = fail_after_first;
  g_round_calls = 0;
  std::lock_guard rounds(g_rounds_mutex);
  g_rounds.clear();
}

void open_gate() {
  {
    std::lock_guard lock(g_gate_mutex);
    g_gate_open = true;
  }
  g_gate_cv.notify_all();
}

// The injected fsync: records its start and end on the clock; the first call may be held at
// the gate; a later call may fail with a real fsync(2) error on a descriptor already closed.
std::string observed_fsync(const fs::path& dir) {
  Round r;
  r.dir = dir.string();
  r.begin = tick();
  bool fail = false;
  {
    std::unique_lock lock(g_gate_mutex);
    const bool first = g_round_calls++ == 0;
    if (first) {
      g_first_entered = true;
      g_gate_cv.notify_all();
      g_gate_cv.wait(lock, [] { return g_gate_open; });
    } else {
      fail = g_fail_after_first;
    }
  }
  if (fail) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
    ::close(fd);
    if (::fsync(fd) != 0) r.error = "fsync " + dir.string() + ": " + std::strerror(errno);
    else r.error = "fsync of a closed descriptor succeeded?";
  } else {
    r.error = fsync_path(dir);  // the production fsync, on the real directory
  }
  r.end = tick();
  std::lock_guard lock(g_rounds_mutex);
  g_rounds.push_back(r);
  return r.error;
}

// A real placement's last steps (dir = <root>/<study>/<series>): a temp file written, renamed into
// `dir`, then the shared fsync.
struct Call {
  long called = 0, returned = 0;
  std::string result;
  bool done = false;
};
void place_and_sync(const fs::path& dir, const std::string& name, Call& c) {
  const fs::path temp = dir.parent_path().parent_path() / ".incoming" / (name + ".tmp");  // <root>/.incoming
  std::ofstream(temp, std::ios::binary) << "instance " << name;
  fs::rename(temp, dir / (name + ".dcm"));
  c.called = tick();
  c.result = fsync_directory_shared(dir, observed_fsync);
  c.returned = tick();
  c.done = true;
}

std::vector<Round> rounds() {
  std::lock_guard lock(g_rounds_mutex);
  return g_rounds;
}

// The contract: some fsync of the same directory began after the call and ended before the return.
const Round* covering(const std::vector<Round>& all, const fs::path& dir, const Call& c) {
  for (const auto& r : all)
    if (r.dir == dir.string() && r.begin > c.called && r.end < c.returned) return &r;
  return nullptr;
}

fs::path make_store(const std::string& prefix) {
  fs::path root = pacspull::testing::make_temp_dir(prefix);
  fs::create_directories(root / ".incoming");
  return root;
}

// Eight callers: one runs a round held at the gate; seven arrive meanwhile and must share
// the next one. Returns the calls; the rounds are in g_rounds.
std::vector<Call> held_round(const fs::path& dir, bool fail_second) {
  constexpr int kCallers = 8;
  reset(/*hold_first=*/true, fail_second);
  std::vector<Call> calls(kCallers);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { place_and_sync(dir, "c0", calls[0]); });
  {
    std::unique_lock lock(g_gate_mutex);
    REQUIRE(g_gate_cv.wait_for(lock, std::chrono::seconds(30), [] { return g_first_entered; }));
  }
  for (int i = 1; i < kCallers; ++i)
    threads.emplace_back([&, i] { place_and_sync(dir, "c" + std::to_string(i), calls[i]); });
  // All eight inside: the runner of the held round and seven waiting for the next one.
  const bool joined = pacspull::testing::wait_for(
      [&] { return fsync_directory_shared_callers(dir) == kCallers; }, std::chrono::seconds(30),
      std::chrono::milliseconds(1));
  open_gate();  // released whatever happened, so the threads can be joined
  for (auto& t : threads) t.join();
  REQUIRE(joined);
  return calls;
}

}  // namespace

TEST_CASE("Concurrent callers share directory fsyncs, each after an fsync that began after its call",
          "[durable][integration]") {
  const fs::path root = make_store("pacspull-dirsync");
  const fs::path dir = root / "study" / "series";
  fs::create_directories(dir);

  const std::vector<Call> calls = held_round(dir, /*fail_second=*/false);
  const std::vector<Round> all = rounds();
  CHECK(all.size() == 2);  // eight callers, two fsyncs: the held one and the one the seven shared
  for (size_t i = 0; i < calls.size(); ++i) {
    INFO("caller " << i);
    CHECK(calls[i].done);
    CHECK(calls[i].result.empty());
    CHECK(covering(all, dir, calls[i]) != nullptr);
    CHECK(fs::exists(dir / ("c" + std::to_string(i) + ".dcm")));
  }
  // The seven who arrived during the held round did not take its result: theirs began later.
  for (size_t i = 1; i < calls.size(); ++i) CHECK(calls[i].returned > all.back().end);
  CHECK(fsync_directory_shared_callers(dir) == 0);  // nothing left behind
}

TEST_CASE("A failing directory fsync reports its error to every caller sharing it, and only to them",
          "[durable][integration]") {
  const fs::path root = make_store("pacspull-dirsync-fail");
  const fs::path dir = root / "study" / "series";
  fs::create_directories(dir);

  const std::vector<Call> calls = held_round(dir, /*fail_second=*/true);
  const std::vector<Round> all = rounds();
  REQUIRE(all.size() == 2);
  CHECK(all[0].error.empty());
  CHECK_THAT(all[1].error, Catch::Contains("Bad file descriptor"));
  CHECK(calls[0].result.empty());  // the held round succeeded: its caller is fine
  for (size_t i = 1; i < calls.size(); ++i) {
    INFO("caller " << i);
    CHECK(calls[i].result == all[1].error);  // the shared round's error, to every sharer
    CHECK(covering(all, dir, calls[i]) == &all[1]);
  }
  // The directory is usable again at once: the next caller runs a fresh, successful round.
  reset(/*hold_first=*/false, /*fail_after_first=*/false);
  Call again;
  place_and_sync(dir, "again", again);
  CHECK(again.result.empty());
  CHECK(rounds().size() == 1);
  CHECK(fsync_directory_shared_callers(dir) == 0);

  // The production fsync on a directory that is gone: its open() error, not a crash or "".
  CHECK_THAT(fsync_directory_shared(root / "gone"), Catch::StartsWith("open ") && Catch::Contains("No such file"));
  CHECK(fsync_directory_shared_callers(root / "gone") == 0);
}

TEST_CASE("Many callers on two directories: every call covered by a later-begun fsync of its own directory",
          "[durable][integration]") {
  const fs::path root = make_store("pacspull-dirsync-many");
  const std::vector<fs::path> dirs{root / "s1" / "a", root / "s1" / "b"};
  for (const auto& d : dirs) fs::create_directories(d);
  reset(/*hold_first=*/false, /*fail_after_first=*/false);

  constexpr int kThreads = 8, kEach = 40;
  std::vector<std::vector<Call>> calls(kThreads, std::vector<Call>(kEach));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        place_and_sync(dirs[static_cast<size_t>((t + i) % 2)], "t" + std::to_string(t) + "-" + std::to_string(i),
                       calls[t][i]);
    });
  for (auto& th : threads) th.join();

  const std::vector<Round> all = rounds();
  size_t uncovered = 0, failed = 0;
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) {
      const Call& c = calls[t][i];
      if (!c.done || !c.result.empty()) ++failed;
      if (covering(all, dirs[static_cast<size_t>((t + i) % 2)], c) == nullptr) ++uncovered;
    }
  CHECK(failed == 0);
  CHECK(uncovered == 0);
  CHECK(all.size() <= static_cast<size_t>(kThreads * kEach));
  // How much was shared is a figure, not a pass/fail: it depends on the scheduler.
  WARN("fsync_directory_shared: " << kThreads * kEach << " calls on 2 directories, " << all.size() << " fsyncs");
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i)
      CHECK(fs::exists(dirs[static_cast<size_t>((t + i) % 2)] /
                       ("t" + std::to_string(t) + "-" + std::to_string(i) + ".dcm")));
  for (const auto& d : dirs) CHECK(fsync_directory_shared_callers(d) == 0);
}
