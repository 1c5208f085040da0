#include "pacspull/runtime/stop_signal.hpp"

#include <signal.h>

#include <thread>

namespace pacspull::runtime {

StopSignal& StopSignal::install() {
  static StopSignal instance;
  static std::once_flag once;
  std::call_once(once, [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    std::thread([set] {
      int sig = 0;
      sigwait(&set, &sig);
      instance.request_stop();
    }).detach();
  });
  return instance;
}

bool StopSignal::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, d, [this] { return stopped_.load(); });
}

void StopSignal::request_stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

}  // namespace pacspull::runtime
