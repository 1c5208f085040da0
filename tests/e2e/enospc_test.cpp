// The receiver's store fills up in the middle of a day's pull (issue 7, storage life cycle).
// The store is a small tmpfs; once the pull is under way a ballast file takes every free
// byte, the "late" part of the day reaches the PACS (a study grows, so it is moved again
// while the store is full), and the receiver must refuse instead of half-writing: C-STOREs
// answered 0xA700, readiness NOT_SERVING above the high watermark. Then the ballast goes
// and the pull must finish as if nothing happened:
// - nothing acknowledged is lost: every success the receiver answered is a ledger row whose
//   file is in the store (or was deleted by the life cycle after its study's dispatch);
// - nothing half-written is dispatched: every file at the AI node parses and equals the
//   PACS's object; no temp file is left in the store;
// - exactly the expected SOP set at the AI node, each instance by one C-STORE.
// Skipped (with a message) when the test may not mount a tmpfs (not root).
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "outcome_checks.hpp"
#include "pipeline_fixture.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Writes `path` until the filesystem refuses (ENOSPC); returns the bytes written.
long long fill(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const std::string chunk(1 << 16, 'b');
  long long total = 0;
  for (;;) {
    const ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n <= 0) {
      INFO("ballast write stopped: " << std::strerror(errno));
      CHECK(errno == ENOSPC);
      break;
    }
    total += n;
  }
  ::close(fd);
  return total;
}

std::string metric_series(const std::string& name, const std::string& reason = "") {
  return reason.empty() ? name : name + "{reason=\"" + reason + "\"}";
}

}  // namespace

TEST_CASE("A store that fills mid-pull refuses with A700 and NOT_SERVING, loses nothing, and the pull completes",
          "[e2e][storage][enospc]") {
  // While every receiver refuses, the mover holds its moves instead of spending their
  // attempts: 3 attempts from 2 s (~6 s of retries) outlast a full store held for longer.
  PipelineFixture::Options options;
  options.extra["mover"] = ", max_attempts: 3, retry_backoff: 2s";
  PipelineFixture f("e2e-enospc", options);
  const fs::path store = f.dir() / "store";
  fs::create_directories(store);
  // 64 MB: the day (under 2 MB) fits many times; the ballast takes the rest.
  if (::mount("tmpfs", store.c_str(), "tmpfs", 0, "size=64m") != 0) {
    WARN("skipped: cannot mount a 64 MB tmpfs at " << store << " (" << std::strerror(errno)
                                                   << "); run as root to test a store that fills mid-pull");
    return;
  }
  struct Unmount {
    PipelineFixture& f;
    fs::path p;
    ~Unmount() {
      f.stop_all();  // the receiver holds the store open
      ::umount2(p.c_str(), MNT_DETACH);
    }
  } unmount{f, store};

  f.upload_part("initial");
  f.start_all();
  const uint16_t rx_metrics = f.metrics_port("receiver");
  const uint16_t mover_metrics = f.metrics_port("mover");
  REQUIRE(f.wait_count("SELECT count(*) FROM instances", 40, 120));
  CHECK(health_of(f, "receiver") == "SERVING");

  // The store fills: every free byte goes to the ballast.
  const fs::path ballast = store / "ballast";
  const long long ballast_bytes = fill(ballast);
  const long at_full = f.count("SELECT count(*) FROM instances");
  // The late part reaches the PACS: the growing study is moved again into a full store.
  f.upload_part("late");

  // Above the high watermark: readiness NOT_SERVING, and C-STOREs refused with 0xA700.
  const bool not_serving = wait_for([&] { return health_of(f, "receiver") == "NOT_SERVING"; }, 30s, 200ms);
  const std::string refused_series = metric_series("pacspull_receiver_store_failures_total", "refused");
  // A C-STORE from the PACS's AE title while full is refused (0xA700): storescu fails.
  const fs::path one_file = *std::find_if(fs::recursive_directory_iterator(f.day_dir()), {}, [](const auto& e) {
    return e.is_regular_file() && e.path().extension() == ".dcm";
  });
  const int storescu_rc = run_command({"storescu", "-v", "-aet", f.pacs().ae_title(), "-aec", "PACSPULL", "127.0.0.1",
                                       std::to_string(f.receiver_port()), one_file.string()},
                                      60s, f.dir() / "storescu-full.log", dicom_tool_env());
  INFO("storescu into the full store: exit " << storescu_rc << "\n" << log_tail(f.dir() / "storescu-full.log"));
  CHECK(storescu_rc != 0);
  const bool refused = wait_for([&] { return scrape(f.dir(), rx_metrics, refused_series) > 0; }, 60s, 200ms);
  // The mover holds: it starts no move while every receiver refuses, and no job spends an
  // attempt. Moves due stay pending, their attempts unspent, for
  // longer than 3 attempts would have lasted.
  const bool held = wait_for([&] { return scrape(f.dir(), mover_metrics, "pacspull_mover_store_held") == 1; }, 30s, 200ms);
  CHECK(held);
  const std::string due_pending =
      "SELECT count(*) FROM move_jobs WHERE status = 'pending' AND not_before <= now()";
  const bool due_waiting = f.wait_count(due_pending, 1, 120);
  CHECK(due_waiting);
  const std::string attempts_sql = "SELECT coalesce(sum(attempts), 0) FROM move_jobs";
  const long attempts_held = f.count(attempts_sql);
  const bool stayed = !wait_for([&] { return f.count(attempts_sql) != attempts_held || f.count(due_pending) == 0; },
                                10s, 500ms);
  CHECK(stayed);
  const double refused_while_full = scrape(f.dir(), rx_metrics, refused_series);
  const double refusing_gauge = scrape(f.dir(), rx_metrics, "pacspull_receiver_store_refusing");
  const long recorded_while_full = f.count("SELECT count(*) FROM instances");
  INFO("ballast " << ballast_bytes << " bytes; " << at_full << " instances recorded when the store filled, "
                  << recorded_while_full << " while full; C-STOREs refused " << refused_while_full
                  << "\nreceiver log:\n"
                  << f.service_log("receiver"));
  CHECK(not_serving);
  CHECK(refused);
  CHECK(refusing_gauge == 1);

  // Space returns: below the low watermark the receiver serves again and the pull completes.
  fs::remove(ballast);
  CHECK(wait_for([&] { return health_of(f, "receiver") == "SERVING"; }, 30s, 200ms));
  const bool settled = wait_all_settled(f, 150);
  CHECK(settled);
  check_exact_at_ai_node(f);
  // Nothing half-written was dispatched: the AI node's files are the PACS's objects, whole.
  CHECK(check_files_match_pacs(f, f.ai().out_dir(), "ai-node") == static_cast<long>(f.expected_sops().size()));

  // Nothing acknowledged is lost. The receiver answers success only after the ledger row
  // committed; each success is a new row, a duplicate or a conflict kept aside.
  const double stored = scrape(f.dir(), rx_metrics, "pacspull_receiver_instances_stored_total");
  const double duplicates = scrape(f.dir(), rx_metrics, "pacspull_receiver_duplicates_total");
  const double conflicts = scrape(f.dir(), rx_metrics, "pacspull_receiver_conflicts_total");
  const long rows = f.count("SELECT count(*) FROM instances");
  INFO("receiver answered success " << stored << " times (duplicates " << duplicates << ", conflicts " << conflicts
                                    << "); ledger rows " << rows);
  CHECK(stored > 0);
  CHECK(static_cast<long>(stored - std::max(duplicates, 0.0) - std::max(conflicts, 0.0)) == rows);
  // The services stop before the store is read: the life cycle deletes a dispatched study's
  // files asynchronously, and a file listed by the comparison could go before it is read.
  f.stop_all();
  // Each row's file is in the store, or left it by the life cycle after its study's dispatch.
  CHECK(f.count("SELECT count(*) FROM instances WHERE deleted_at IS NOT NULL AND study_uid NOT IN "
                "(SELECT study_uid FROM dispatches WHERE status = 'sent')") == 0);
  long absent = 0;
  std::string first_absent;
  {
    std::istringstream kept(f.query("SELECT string_agg(path, E'\\n') FROM instances WHERE deleted_at IS NULL"));
    for (std::string p; std::getline(kept, p);)
      if (!fs::exists(p) && ++absent == 1) first_absent = p;
  }
  INFO("first recorded file missing from the store: " << first_absent);
  CHECK(absent == 0);
  // What stays in the store (first images, studies not dispatched) is whole too, and no
  // temp file of a refused or broken C-STORE is left behind.
  check_files_match_pacs(f, store, "store");
  long temps = 0;
  for (const auto& e : fs::directory_iterator(store / ".incoming")) temps += e.is_regular_file() ? 1 : 0;
  CHECK(temps == 0);
  WARN("enospc: ballast " << ballast_bytes / (1 << 20) << " MiB, " << refused_while_full
                          << " C-STOREs refused while full, " << stored << " successes, " << rows << " ledger rows");
}
