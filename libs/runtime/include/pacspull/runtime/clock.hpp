#pragma once
// The wall clock a service reads `now` from, passed in through runtime::Context so a
// test can run a service at any instant (00:30 in Shanghai) without waiting for it.
// Pure logic never reads a clock: it takes `now` as a value. Decisions made in SQL take
// `now` as a parameter too, so the ledger's clock and ours cannot disagree.
//
// Thread-safety: now() may be called from any thread.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "pacspull/core/time.hpp"

namespace pacspull::runtime {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual core::Time now() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  core::Time now() const override { return core::Clock::now(); }
};

// A clock that read `start` when it was made and runs at real speed from there.
class ShiftedClock final : public Clock {
 public:
  explicit ShiftedClock(core::Time start) : start_(start), origin_(std::chrono::steady_clock::now()) {}
  core::Time now() const override {
    return start_ + std::chrono::duration_cast<core::Clock::duration>(std::chrono::steady_clock::now() - origin_);
  }

 private:
  core::Time start_;
  std::chrono::steady_clock::time_point origin_;
};

// The test hook: PACSPULL_FAKE_NOW="2026-03-14T16:30:00Z" together with
// PACSPULL_TEST_HOOKS=1 starts the service's clock at that instant (ShiftedClock); unset,
// the system clock. Returns the clock and, when the hook is used, a description for the
// start-up warning. Throws std::invalid_argument (a configuration error: exit code 2) on a
// malformed value, or when PACSPULL_FAKE_NOW comes without PACSPULL_TEST_HOOKS=1: a stray
// variable in production must stop the service, not shift its clock silently.
struct ClockChoice {
  std::shared_ptr<const Clock> clock;
  std::optional<std::string> fake_note;
};
ClockChoice clock_from_environment();

}  // namespace pacspull::runtime
