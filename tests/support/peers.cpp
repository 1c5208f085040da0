#include "peers.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pacspull::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStudyDirPrefix = "study";
constexpr const char* kStoreScpLog = "storescp.log";

// DCMTK tools wait forever by default; these bound every network step.
const std::vector<std::string> kScuTimeouts = {"-to", "30", "-ta", "30", "-td", "60"};

std::string source_dir() {
#ifdef PACSPULL_TEST_SOURCE_DIR
  return env_or("PACSPULL_SOURCE_DIR", PACSPULL_TEST_SOURCE_DIR);
#else
  return env_or("PACSPULL_SOURCE_DIR", ".");
#endif
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// "(0020,1208) IS [54]   #   2, 1 NumberOfStudyRelatedInstances" -> {keyword,
// value}.
std::optional<std::pair<std::string, std::string>> parse_dump_line(const std::string& line) {
  if (line.size() < 14 || line[0] != '(') return std::nullopt;
  auto hash = line.rfind(" # ");
  if (hash == std::string::npos) return std::nullopt;
  std::istringstream tail(line.substr(hash + 3));
  std::string length, vm, keyword;
  tail >> length >> vm >> keyword;
  if (keyword.empty()) return std::nullopt;
  std::string body = line.substr(15, hash - 15);  // after "(gggg,eeee) VR "
  std::string value;
  if (!body.empty() && body[0] == '[') {
    auto close = body.rfind(']');
    value = body.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else if (body.rfind("(no value available)", 0) == 0) {
    value = "";
  } else {
    auto end = body.find_last_not_of(' ');
    value = end == std::string::npos ? "" : body.substr(0, end + 1);
  }
  return std::make_pair(keyword, value);
}

}  // namespace

std::map<std::string, std::string> dicom_tool_env() { return {{"TCP_NODELAY", "1"}}; }

std::string log_tail(const fs::path& log, std::size_t max_bytes) {
  std::string text = read_file(log);
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

std::string today_yyyymmdd() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
  return buf;
}

// ---------------------------------------------------------------------------------------
// StoreScpNode
// ---------------------------------------------------------------------------------------

StoreScpNode::StoreScpNode(fs::path out_dir, std::string ae_title)
    : out_dir_(std::move(out_dir)), ae_title_(std::move(ae_title)) {
  fs::create_directories(out_dir_);
  const fs::path log = out_dir_ / kStoreScpLog;
  // The free port may be taken between probe and bind by another test; retry a
  // few times.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_tcp_port();
    process_ =
        ChildProcess::spawn({"storescp", "--aetitle", ae_title_, "--output-directory", out_dir_.string(),
                             "--sort-on-study-uid", kStudyDirPrefix, "--socket-timeout", "30", "--acse-timeout", "30",
                             "--dimse-timeout", "60", "--disable-host-lookup", "--verbose", std::to_string(port_)},
                            dicom_tool_env(), log);
    bool up = wait_for([&] { return !process_.running() || tcp_port_open(port_); }, std::chrono::seconds(15));
    if (up && process_.running()) return;
    process_.stop(std::chrono::seconds(1));
  }
  throw std::runtime_error("storescp did not start listening; log:\n" + log_tail(log));
}

StoreScpNode::~StoreScpNode() { stop(); }

void StoreScpNode::stop() { process_.stop(std::chrono::seconds(5)); }

std::vector<fs::path> StoreScpNode::files() const {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out_dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file() && it->path().filename() != kStoreScpLog) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> StoreScpNode::files_of_study(const std::string& study_instance_uid) const {
  std::vector<fs::path> out;
  const fs::path dir = out_dir_ / (std::string(kStudyDirPrefix) + "_" + study_instance_uid);
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> StoreScpNode::sop_instance_uids() const {
  std::vector<std::string> out;
  for (const auto& f : files()) out.push_back(sop_uid_from_storescp_name(f.filename().string()));
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, int> StoreScpNode::received_counts() const {
  static const std::string kStoring = "storing DICOM file: ";
  std::map<std::string, int> out;
  std::istringstream in(read_file(out_dir_ / kStoreScpLog));
  std::string line;
  while (std::getline(in, line)) {
    auto at = line.find(kStoring);
    if (at == std::string::npos) continue;
    std::string path = line.substr(at + kStoring.size());
    while (!path.empty() && (path.back() == '\r' || path.back() == ' ')) path.pop_back();
    ++out[sop_uid_from_storescp_name(fs::path(path).filename().string())];
  }
  return out;
}

std::string sop_uid_from_storescp_name(const std::string& file_name) {
  // UIDs start with a digit; storescp prefixes a short modality code and a dot.
  auto first_digit = file_name.find_first_of("0123456789");
  return first_digit == std::string::npos ? file_name : file_name.substr(first_digit);
}

// ---------------------------------------------------------------------------------------
// dcmdump / findscu / movescu
// ---------------------------------------------------------------------------------------

std::optional<std::map<std::string, std::string>> dump_attributes(const fs::path& file) {
  static std::atomic<unsigned> counter{0};
  const fs::path out = fs::temp_directory_path() /
                       ("pacspull-dcmdump-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".txt");
  // +L: no truncation of long values; -Un: UIDs as numbers, not names.
  int rc = run_command({"dcmdump", "+L", "-Un", "-q", file.string()}, std::chrono::seconds(30), out);
  if (rc != 0) {
    std::error_code ec;
    fs::remove(out, ec);
    return std::nullopt;
  }
  std::map<std::string, std::string> attrs;
  std::istringstream in(read_file(out));
  std::string line;
  while (std::getline(in, line)) {
    if (auto kv = parse_dump_line(line)) attrs.emplace(kv->first, kv->second);
  }
  std::error_code ec;
  fs::remove(out, ec);
  return attrs;
}

std::vector<std::map<std::string, std::string>> c_find(const DicomNode& peer, const std::string& calling_aet,
                                                       const std::string& level, const std::vector<std::string>& keys,
                                                       const fs::path& work_dir) {
  static std::atomic<unsigned> counter{0};
  const fs::path dir = work_dir / ("cfind-" + std::to_string(++counter));
  fs::create_directories(dir);
  const fs::path log = dir / "findscu.log";
  std::vector<std::string> argv = with({"findscu", "-S", "-aet", calling_aet, "-aec", peer.ae_title}, kScuTimeouts);
  argv = with(argv, {"-k", "QueryRetrieveLevel=" + level, "--extract", "--output-directory", dir.string()});
  for (const auto& k : keys) argv = with(argv, {"-k", k});
  argv = with(argv, {peer.host, std::to_string(peer.port)});
  int rc = run_command(argv, std::chrono::seconds(90), log, dicom_tool_env());
  if (rc != 0) throw std::runtime_error("findscu failed (" + std::to_string(rc) + "):\n" + log_tail(log));
  std::vector<fs::path> responses;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".dcm") responses.push_back(e.path());
  }
  std::sort(responses.begin(), responses.end());
  std::vector<std::map<std::string, std::string>> out;
  for (const auto& r : responses) {
    auto attrs = dump_attributes(r);
    if (!attrs) throw std::runtime_error("unreadable C-FIND response " + r.string());
    out.push_back(std::move(*attrs));
  }
  return out;
}

int c_move(const DicomNode& peer, const std::string& calling_aet, const std::string& destination_aet,
           const std::string& level, const std::vector<std::string>& keys, const fs::path& log,
           std::chrono::seconds deadline) {
  std::vector<std::string> argv =
      with({"movescu", "-S", "-v", "-aet", calling_aet, "-aec", peer.ae_title, "-aem", destination_aet}, kScuTimeouts);
  argv = with(argv, {"-k", "QueryRetrieveLevel=" + level});
  for (const auto& k : keys) argv = with(argv, {"-k", k});
  argv = with(argv, {peer.host, std::to_string(peer.port)});
  return run_command(argv, deadline, log, dicom_tool_env());
}

// ---------------------------------------------------------------------------------------
// gen_day.py
// ---------------------------------------------------------------------------------------

fs::path run_gen_day(const fs::path& out_dir, const GenDayOptions& options) {
  const fs::path script = fs::path(source_dir()) / "tests" / "fixtures" / "gen_day.py";
  if (!fs::exists(script)) throw std::runtime_error("gen_day.py not found at " + script.string());
  fs::create_directories(out_dir);
  std::vector<std::string> argv = {env_or("PACSPULL_PYTHON", "/usr/bin/python3"),
                                   script.string(),
                                   "--out",
                                   out_dir.string(),
                                   "--profile",
                                   options.profile,
                                   "--seed",
                                   std::to_string(options.seed)};
  if (!options.date.empty()) argv = with(argv, {"--date", options.date});
  if (options.studies) argv = with(argv, {"--studies", std::to_string(*options.studies)});
  if (!options.canary.empty()) argv = with(argv, {"--canary", options.canary});
  const fs::path log = out_dir / "gen_day.log";
  int rc = run_command(argv, std::chrono::minutes(5), log);
  const fs::path manifest = out_dir / "manifest.json";
  if (rc != 0 || !fs::exists(manifest)) {
    throw std::runtime_error("gen_day.py failed (" + std::to_string(rc) + "):\n" + log_tail(log));
  }
  return manifest;
}

}  // namespace pacspull::testing
