#pragma once
// A real nats-server with JetStream for one test: free port, private store directory,
// log file beside the store. Restartable on the same port and store (crash tests).
#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "pacspull/bus/bus.hpp"
#include "process.hpp"

namespace pacspull::bus::testing {

class NatsServer {
 public:
  NatsServer()
      : port_(pacspull::testing::free_tcp_port()), dir_(pacspull::testing::make_temp_dir("pacspull-nats")) {
    start();
  }
  ~NatsServer() {
    process_.stop(std::chrono::seconds(5));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  void start() {
    process_ = pacspull::testing::ChildProcess::spawn(
        {"nats-server", "-js", "-sd", (dir_ / "store").string(), "-p", std::to_string(port_), "-a", "127.0.0.1"}, {},
        dir_ / "nats-server.log");
    if (!pacspull::testing::wait_for([&] { return pacspull::testing::tcp_port_open(port_); }, std::chrono::seconds(15)))
      throw std::runtime_error("nats-server did not open port " + std::to_string(port_) + "; see " +
                               (dir_ / "nats-server.log").string());
  }
  // Crash: no shutdown, no flush.
  void kill() {
    process_.signal(SIGKILL);
    process_.wait(std::chrono::seconds(10));
  }
  void stop() { process_.stop(std::chrono::seconds(10)); }

  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  uint16_t port_;
  std::filesystem::path dir_;
  pacspull::testing::ChildProcess process_;
};

// Fetches until `n` messages arrived or `deadline` passed (polling, no sleep).
inline std::vector<Message> fetch_at_least(Puller& puller, size_t n, std::chrono::milliseconds deadline) {
  std::vector<Message> got;
  pacspull::testing::wait_for(
      [&] {
        for (auto& m : puller.fetch(static_cast<int>(n - got.size()), std::chrono::milliseconds(250)))
          got.push_back(std::move(m));
        return got.size() >= n;
      },
      deadline, std::chrono::milliseconds(1));
  return got;
}

inline Options test_options(const NatsServer& server, const std::string& name) {
  Options o;
  o.url = server.url();
  o.name = name;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.reconnect_wait = std::chrono::milliseconds(200);
  o.request_timeout = std::chrono::milliseconds(2000);
  o.publish_attempts = 3;
  o.publish_backoff = std::chrono::milliseconds(100);
  o.publish_timeout = std::chrono::milliseconds(500);
  return o;
}

// Declares a stream with one subject and a durable consumer on it; returns the spec.
inline ConsumerSpec declare_work(Bus& bus, const std::string& stream_name, const std::string& subject,
                                 const std::string& durable, std::chrono::seconds ack_wait) {
  StreamSpec stream;
  stream.name = stream_name;
  stream.subjects = {subject};
  bus.ensure_stream(stream);
  ConsumerSpec consumer{stream_name, durable, subject, ack_wait};
  bus.ensure_consumer(consumer);
  return consumer;
}

}  // namespace pacspull::bus::testing
