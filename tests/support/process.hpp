#pragma once
// Child processes and condition waits for tests. Every wait polls a condition against a
// deadline; nothing here sleeps as synchronisation.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pacspull::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  // Starts argv[0] (PATH lookup) with the current environment plus `env`; stdout and
  // stderr go to `log` when given (appended), else to /dev/null.
  static ChildProcess spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                            const std::filesystem::path& log = {});
  ChildProcess(ChildProcess&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Sends SIGTERM, waits up to `grace`, then SIGKILL. Returns the exit status.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Waits for exit up to `deadline`; returns the exit code (128+signal if killed), or -1.
  int wait(std::chrono::milliseconds deadline);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Runs a command to completion (with deadline) and returns its exit code; output to log.
int run_command(const std::vector<std::string>& argv, std::chrono::milliseconds deadline,
                const std::filesystem::path& log = {}, const std::map<std::string, std::string>& env = {});

uint16_t free_tcp_port();
bool tcp_port_open(uint16_t port, const std::string& host = "127.0.0.1");
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
              std::chrono::milliseconds poll = std::chrono::milliseconds(50));
std::filesystem::path make_temp_dir(const std::string& prefix);
std::string env_or(const char* name, const std::string& fallback);
std::string read_file(const std::filesystem::path& p);

}  // namespace pacspull::testing
