#include "orthanc.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace pacspull::testing {
namespace {

namespace fs = std::filesystem;

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string modality_json(const DicomNode& n) {
  return "{ \"AET\": " + json_string(n.ae_title) + ", \"Host\": " + json_string(n.host) +
         ", \"Port\": " + std::to_string(n.port) + " }";
}

// Orthanc's /statistics is flat JSON; "CountInstances" : 138 (number, not
// string).
std::optional<size_t> json_number_field(const std::string& body, const std::string& field) {
  auto key = body.find("\"" + field + "\"");
  if (key == std::string::npos) return std::nullopt;
  auto colon = body.find(':', key);
  if (colon == std::string::npos) return std::nullopt;
  auto digit = body.find_first_of("0123456789", colon);
  if (digit == std::string::npos) return std::nullopt;
  return static_cast<size_t>(std::stoull(body.substr(digit)));
}

bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

HttpResponse http_request(uint16_t port, const std::string& method, const std::string& path, const std::string& body,
                          std::chrono::milliseconds timeout) {
  HttpResponse response;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return response;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return response;
  }
  std::string request = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty() || method == "PUT" || method == "POST") {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  std::string raw;
  if (send_all(fd, request)) {
    char buf[8192];
    while (true) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;  // closed, error or timeout: parse what arrived
      raw.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  if (raw.rfind("HTTP/", 0) != 0) return response;
  auto space = raw.find(' ');
  auto header_end = raw.find("\r\n\r\n");
  if (space == std::string::npos || header_end == std::string::npos) return response;
  response.status = std::atoi(raw.c_str() + space + 1);
  response.body = raw.substr(header_end + 4);
  return response;
}

OrthancPacs::OrthancPacs(fs::path work_dir, std::string ae_title, std::vector<DicomNode> modalities,
                         OrthancOptions options)
    : work_dir_(std::move(work_dir)), ae_title_(std::move(ae_title)), options_(std::move(options)) {
  for (auto& m : modalities) modalities_[m.ae_title] = std::move(m);
  fs::create_directories(work_dir_ / "storage");
  config_ = work_dir_ / "orthanc.json";
  log_ = work_dir_ / "orthanc.log";
  // A probed free port can be taken by another test before Orthanc binds it; Orthanc then
  // exits at once, and we try again with fresh ports.
  for (int attempt = 1;; ++attempt) {
    dicom_port_ = free_tcp_port();
    http_port_ = free_tcp_port();
    while (http_port_ == dicom_port_) http_port_ = free_tcp_port();
    if (start_once() || attempt == 3) break;
  }
  if (!process_.running()) {
    throw std::runtime_error("Orthanc exited at start-up; log tail:\n" + log_tail(log_));
  }
}

OrthancPacs::~OrthancPacs() { stop(); }

void OrthancPacs::write_config() const {
  std::ostringstream c;
  c << "{\n"
    << "  \"Name\": " << json_string("pacspull-test-" + ae_title_) << ",\n"
    << "  \"StorageDirectory\": " << json_string((work_dir_ / "storage").string()) << ",\n"
    << "  \"IndexDirectory\": " << json_string((work_dir_ / "storage").string()) << ",\n"
    << "  \"StorageCompression\": false,\n"
    << "  \"Plugins\": [],\n"
    << "  \"LuaScripts\": [],\n"
    << "  \"ConcurrentJobs\": 2,\n"
    << "  \"HttpServerEnabled\": true,\n"
    << "  \"HttpPort\": " << http_port_ << ",\n"
    << "  \"RemoteAccessAllowed\": false,\n"
    << "  \"AuthenticationEnabled\": false,\n"
    << "  \"SslEnabled\": false,\n"
    << "  \"WebDavEnabled\": false,\n"
    << "  \"OrthancExplorerEnabled\": false,\n"
    << "  \"HttpDescribeErrors\": true,\n"
    << "  \"DicomServerEnabled\": true,\n"
    << "  \"DicomAet\": " << json_string(ae_title_) << ",\n"
    << "  \"DicomPort\": " << dicom_port_ << ",\n"
    << "  \"DicomCheckCalledAet\": false,\n"
    << "  \"DicomCheckModalityHost\": false,\n"
    << "  \"DicomAlwaysAllowEcho\": true,\n"
    << "  \"DicomAlwaysAllowStore\": true,\n"
    << "  \"DicomAlwaysAllowFind\": true,\n"
    << "  \"DicomAlwaysAllowGet\": true,\n"
    << "  \"DicomAlwaysAllowMove\": true,\n"
    << "  \"DicomScpTimeout\": 30,\n"
    << "  \"DicomScuTimeout\": 10,\n"
    << "  \"DefaultEncoding\": " << json_string(options_.default_encoding) << ",\n"
    << "  \"LimitFindResults\": " << options_.limit_find_results << ",\n"
    << "  \"SynchronousCMove\": " << (options_.synchronous_cmove ? "true" : "false") << ",\n"
    << "  \"StableAge\": " << options_.stable_age_seconds << ",\n"
    << "  \"SaveJobs\": true,\n"
    << "  \"SyncStorageArea\": false,\n"
    << "  \"DeidentifyLogs\": false,\n"
    << "  \"TcpNoDelay\": true,\n"
    << "  \"KeepAlive\": true,\n";
  for (const auto& extra : options_.extra_config) c << "  " << extra << ",\n";
  c << "  \"DicomModalities\": {";
  bool first = true;
  for (const auto& [name, node] : modalities_) {
    c << (first ? "\n" : ",\n") << "    " << json_string(name) << ": " << modality_json(node);
    first = false;
  }
  c << "\n  }\n}\n";
  std::ofstream out(config_, std::ios::trunc);
  out << c.str();
  if (!out) throw std::runtime_error("cannot write " + config_.string());
}

void OrthancPacs::start() {
  if (!start_once()) throw std::runtime_error("Orthanc exited at start-up; log tail:\n" + log_tail(log_));
}

bool OrthancPacs::start_once() {
  write_config();
  {
    std::ofstream mark(log_, std::ios::app);
    mark << "==== pacspull test: starting Orthanc (DICOM " << dicom_port_ << ", HTTP " << http_port_ << ")\n";
  }
  process_ = ChildProcess::spawn({"/usr/sbin/Orthanc", config_.string()}, dicom_tool_env(), log_);
  bool up = wait_for(
      [&] {
        if (!process_.running()) return true;
        return http_request(http_port_, "GET", "/system", {}, std::chrono::seconds(2)).status == 200 &&
               tcp_port_open(dicom_port_);
      },
      std::chrono::seconds(60), std::chrono::milliseconds(100));
  if (!up) {
    process_.stop(std::chrono::seconds(2));
    throw std::runtime_error("Orthanc did not answer within 60 s; log tail:\n" + log_tail(log_));
  }
  return process_.running();
}

void OrthancPacs::stop() { process_.stop(std::chrono::seconds(20)); }

void OrthancPacs::kill9() {
  process_.signal(SIGKILL);
  process_.wait(std::chrono::seconds(10));
}

void OrthancPacs::restart() {
  if (process_.running()) stop();
  start();
}

std::string OrthancPacs::rest(const std::string& method, const std::string& path, const std::string& body) {
  HttpResponse r = http_request(http_port_, method, path, body, std::chrono::seconds(30));
  if (r.status < 200 || r.status >= 300) {
    throw std::runtime_error("Orthanc " + method + " " + path + " -> " + std::to_string(r.status) + ": " + r.body);
  }
  return r.body;
}

size_t OrthancPacs::instance_count() {
  std::string body = rest("GET", "/statistics");
  auto n = json_number_field(body, "CountInstances");
  if (!n) throw std::runtime_error("Orthanc /statistics without CountInstances: " + body);
  return *n;
}

void OrthancPacs::add_modality(const std::string& name, const DicomNode& node) {
  rest("PUT", "/modalities/" + name, modality_json(node));
  modalities_[name] = node;
}

void OrthancPacs::upload(const fs::path& dir_or_file) {
  size_t expected = 0;
  if (fs::is_directory(dir_or_file)) {
    for (const auto& e : fs::recursive_directory_iterator(dir_or_file)) {
      if (e.is_regular_file() && e.path().extension() == ".dcm") ++expected;
    }
  } else if (fs::is_regular_file(dir_or_file)) {
    expected = 1;
  } else {
    throw std::runtime_error("upload: no such file or directory " + dir_or_file.string());
  }
  if (expected == 0) return;

  static std::atomic<unsigned> counter{0};
  const fs::path log = work_dir_ / ("storescu-" + std::to_string(++counter) + ".log");
  // -R: propose only the SOP classes/transfer syntaxes the files need (no
  // 128-context limit); -nh would continue after a failed store, but one
  // failure already fails the upload.
  std::vector<std::string> argv = {"storescu", "-v", "-R",  "-aet", "PACSPULL_UPLOAD", "-aec", ae_title_, "-to", "30",
                                   "-ta",      "30", "-td", "60"};
  if (fs::is_directory(dir_or_file)) {
    argv.insert(argv.end(), {"+sd", "+r", "+sp", "*.dcm"});
  }
  argv.insert(argv.end(), {"127.0.0.1", std::to_string(dicom_port_), dir_or_file.string()});
  int rc = run_command(argv, std::chrono::minutes(10), log, dicom_tool_env());
  const std::string text = read_file(log);
  size_t acknowledged = 0;
  for (size_t pos = 0; (pos = text.find("Received Store Response (Success)", pos)) != std::string::npos; ++pos) {
    ++acknowledged;
  }
  if (rc != 0 || acknowledged != expected) {
    throw std::runtime_error("storescu uploaded " + std::to_string(acknowledged) + " of " + std::to_string(expected) +
                             " files (exit " + std::to_string(rc) + "); log tail:\n" + log_tail(log));
  }
}

}  // namespace pacspull::testing
