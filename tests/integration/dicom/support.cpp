#include "support.hpp"

#include "peers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pacspull::dicom::testing {

using pacspull::testing::ChildProcess;

fs::path helper_script(const std::string& name) { return fs::path(PACSPULL_DICOM_TEST_DIR) / name; }

fs::path pydicom_file(const std::string& name) {
  return fs::path("/usr/lib/python3/dist-packages/pydicom/data/test_files") / name;
}

std::map<std::string, std::string> peer_env() { return pacspull::testing::dicom_tool_env(); }

std::vector<TestInstance> make_instances(const fs::path& out_dir, const std::vector<std::string>& args) {
  const fs::path listing = out_dir.parent_path() / (out_dir.filename().string() + ".list");
  fs::remove(listing);
  std::vector<std::string> argv{"/usr/bin/python3", helper_script("make_instances.py").string(), out_dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const int rc = pacspull::testing::run_command(argv, std::chrono::seconds(120), listing);
  if (rc != 0) throw std::runtime_error("make_instances.py failed: " + pacspull::testing::read_file(listing));
  std::vector<TestInstance> out;
  std::istringstream lines(pacspull::testing::read_file(listing));
  TestInstance t;
  std::string path;
  while (lines >> path >> t.study >> t.series >> t.sop) {
    t.path = path;
    out.push_back(t);
  }
  return out;
}

int run_storescu(const std::string& calling, const std::string& called, uint16_t port,
                 const std::vector<fs::path>& files, const fs::path& log, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{"storescu", "-aet", calling, "-aec", called, "-to", "5", "-ta", "10", "-td", "30"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("127.0.0.1");
  argv.push_back(std::to_string(port));
  for (const auto& f : files) argv.push_back(f.string());
  return pacspull::testing::run_command(argv, std::chrono::seconds(120), log, peer_env());
}

StoreScp::SinkResult RecordingSink::operator()(const StoreScp::Stored& stored) {
  std::lock_guard lock(mutex_);
  stored_.push_back(stored);
  ++by_sop_[std::string(stored.attributes.trimmed("SOPInstanceUID"))];
  return retry_later.load() ? StoreScp::SinkResult::RetryLater : StoreScp::SinkResult::Ok;
}

size_t RecordingSink::calls() const {
  std::lock_guard lock(mutex_);
  return stored_.size();
}

size_t RecordingSink::calls_for(const std::string& sop) const {
  std::lock_guard lock(mutex_);
  auto it = by_sop_.find(sop);
  return it == by_sop_.end() ? 0 : it->second;
}

std::vector<StoreScp::Stored> RecordingSink::all() const {
  std::lock_guard lock(mutex_);
  return stored_;
}

StoreScp::Sink RecordingSink::as_sink() {
  return [this](const StoreScp::Stored& s) { return (*this)(s); };
}

SilentListener::SilentListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
    throw std::runtime_error("SilentListener: cannot listen");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        clients_.push_back(c);  // held open, never read or written
        ++accepted_;
      }
    }
  });
}

SilentListener::~SilentListener() {
  stop_.store(true);
  thread_.join();
  for (int c : clients_) ::close(c);
  ::close(fd_);
}

}  // namespace pacspull::dicom::testing
