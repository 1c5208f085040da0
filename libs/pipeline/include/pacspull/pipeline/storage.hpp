#pragma once
// The receiver's storage life cycle, as decisions: when a study's files may leave the
// store, when the store is too full to take more, which temp files a starting receiver
// may remove. Pure: every input (state, times, `now`, free space, pid liveness) is a value.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pacspull/core/time.hpp"
#include "pacspull/pipeline/state.hpp"

namespace pacspull::pipeline {

// ---- Deletion after hand-off -------------------------------------------------------
// Field rule: delete received images once they are handed on (a whole study at a time,
// asynchronously); with a RAM-disk store this is mandatory. The ledger keeps the record.

struct StoredStudy {
  StudyState state = StudyState::Found;
  int generation = 0;
  int dispatched_generation = 0;  // the generation the dispatcher settled (0: never)
  bool dispatch_pending = false;  // a dispatches row of this study is 'pending' or 'failed'
  bool dispatch_sent = false;     // a dispatches row of this study is 'sent'
  core::Time settled_at{};        // studies.state_changed_at
  bool files_deleted = false;
};

struct RetentionPolicy {
  core::Seconds keep_after_dispatch{0};              // after a confirmed dispatch
  core::Seconds retention{std::chrono::hours(24)};  // studies that end not dispatched
};

enum class DeleteAction { Keep, Delete };

struct DeleteDecision {
  DeleteAction action = DeleteAction::Keep;
  std::string reason;
  std::optional<core::Time> due_at;  // Keep while waiting for keep/retention: when it becomes due
};

// Delete only a study settled for its current generation (completed with a dispatch
// sent, unsupported, failed) with no dispatch pending, once keep_after_dispatch (sent) or
// retention (never dispatched) has passed. A reopened study (pulling again, generation
// ahead of the settled one) is always kept.
DeleteDecision deletion_due(const StoredStudy& s, const RetentionPolicy& p, core::Time now);

// ---- Storage cap with hysteresis ---------------------------------------------------

// A watermark is a share of the filesystem used (percent) or a number of bytes used.
struct Watermark {
  enum class Kind { Percent, Bytes } kind = Kind::Percent;
  double value = 0;  // 0..100 for Percent, bytes for Bytes
  uint64_t used_bytes(uint64_t capacity_bytes) const;
};
// "90%", "85.5%", "500000000", "20GiB", "512MiB", "1TiB", "10G" (binary multiples);
// nullopt when malformed or a percentage above 100.
std::optional<Watermark> parse_watermark(std::string_view text);

struct StoreUsage {
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;  // available to an unprivileged writer (statvfs f_bavail)
  uint64_t used_bytes() const { return capacity_bytes > free_bytes ? capacity_bytes - free_bytes : 0; }
};

struct CapDecision {
  bool refusing = false;
  bool changed = false;
  std::string reason;  // set when changed
};

// Above `high` used, start refusing; while refusing, resume only at or below `low`.
// Between the two the previous state holds, so the receiver does not flap.
CapDecision storage_cap(bool refusing, const StoreUsage& usage, const Watermark& high, const Watermark& low);

// ---- Temp files shared by several receivers ----------------------------------------
// Name: "rx-<host>-<pid>-<random hex>-<sequence>.tmp". Host names may contain '-', so
// the name is read from the right.

struct TempOwner {
  std::string host;
  long pid = 0;
};
// The host part as it appears in names (characters outside [A-Za-z0-9.-] become '_').
std::string temp_host(std::string_view host);
std::string temp_name(std::string_view host, long pid, uint64_t random, uint64_t sequence);
std::optional<TempOwner> parse_temp_name(std::string_view file_name);

struct TempFile {
  std::optional<TempOwner> owner;  // nullopt: a name we do not know (an older layout)
  core::Seconds age{0};            // now - mtime
  bool owner_alive = false;        // same host only: the owner's pid still runs
};
enum class TempAction { Remove, Keep };
struct TempDecision {
  TempAction action;
  std::string reason;
};
// A starting receiver removes a temp file when it is stale: left by this host's earlier
// incarnation (our own pid reused, as pid 1 in a container, or a pid no longer running),
// or older than `stale_age` whoever wrote it. Another live receiver's file in flight is
// never removed. `my_host` is temp_host() of this host.
TempDecision stale_temp(const TempFile& f, std::string_view my_host, long my_pid, core::Seconds stale_age);

}  // namespace pacspull::pipeline
