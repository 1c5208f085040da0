#pragma once
// SIGTERM/SIGINT -> a stop flag every loop of the service waits on. Waiting is a
// condition-variable wait with a timeout, so a stop is seen at once.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace pacspull::runtime {

class StopSignal {
 public:
  // Blocks SIGTERM/SIGINT in the calling thread (call before starting threads) and
  // starts a thread that turns them into request_stop().
  static StopSignal& install();
  bool stopped() const { return stopped_.load(); }
  // Waits up to `d`; returns true when a stop was requested.
  bool wait_for(std::chrono::milliseconds d);
  void request_stop();

 private:
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace pacspull::runtime
