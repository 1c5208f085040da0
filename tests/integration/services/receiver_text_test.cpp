// Property: whatever bytes a PACS puts in any text attribute of an instance (and in
// SpecificCharacterSet itself), the receiver SERVICE stores it, records it in the ledger
// and answers Success: never A700, never a crash. Real pacspull-receiver binary, real
// PostgreSQL (a fresh database) and nats-server (tests/run.sh), DCMTK's storescu as the
// PACS. The instances come from make_text_instances.py (seeded random bytes: NUL, 0xFF,
// lone continuation bytes, ISO 2022 escapes, backslashes, values far past the VR's
// length; plus pydicom's charset_files with fresh UIDs).
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <vector>

#include "peers.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kRandomInstances = 150;
constexpr int kSeed = 6;

fs::path source_dir() { return fs::path(env_or("PACSPULL_SOURCE_DIR", ".")); }

// The status storescu reports for its one C-STORE ("Success", or the error line).
std::string store_status(const std::string& log) {
  std::istringstream in(log);
  std::string line, status = "no Store Response in the storescu log";
  while (std::getline(in, line)) {
    auto at = line.find("Received Store Response");
    if (at != std::string::npos) status = line.substr(at);
  }
  return status;
}

// The first error lines of a log and how many there are.
std::string error_lines(const fs::path& log) {
  std::istringstream in(read_file(log));
  std::string line, out;
  long n = 0;
  while (std::getline(in, line)) {
    if (line.find("error") == std::string::npos && line.find("SQLSTATE") == std::string::npos) continue;
    if (++n <= 3) out += "\n  " + line.substr(0, 400);
  }
  return std::to_string(n) + out;
}

std::string describe(const json& entry) {
  std::string out = entry["file"].get<std::string>();
  if (entry.contains("source")) out += " (pydicom " + entry["source"].get<std::string>() + ")";
  if (entry.contains("attributes_hex")) {
    out += " hex:";
    for (const auto& [kw, hex] : entry["attributes_hex"].items()) {
      std::string h = hex.get<std::string>();
      if (h.size() > 48) h = h.substr(0, 48) + "..(" + std::to_string(h.size() / 2) + " bytes)";
      out += " " + kw + "=" + h;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("Any bytes in any text attribute are stored and acknowledged by the receiver: never A700, never a crash",
          "[receiver][charset]") {
  TestDatabase db;
  const fs::path dir = make_temp_dir("pacspull-receiver-text");
  const fs::path instances = dir / "instances";
  {
    const fs::path log = dir / "make_text_instances.log";
    int rc = run_command({env_or("PACSPULL_PYTHON", "/usr/bin/python3"),
                          (source_dir() / "tests/integration/services/make_text_instances.py").string(),
                          instances.string(), "--count", std::to_string(kRandomInstances), "--seed",
                          std::to_string(kSeed)},
                         std::chrono::minutes(3), log);
    INFO(log_tail(log));
    REQUIRE(rc == 0);
  }
  const json manifest = json::parse(read_file(instances / "manifest.json"));
  REQUIRE(manifest.size() > static_cast<size_t>(kRandomInstances));  // plus pydicom's charset files

  const uint16_t dicom_port = free_tcp_port(), grpc_port = free_tcp_port(), metrics_port = free_tcp_port();
  const fs::path config = dir / "site.yaml";
  {
    std::ofstream f(config);
    f << "site: receiver-text\nledger: {url: \"" << db.url() << "\"}\n"
      << "bus: {url: \"" << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
      << "local: {ae_title: PACSPULL, receiver_ae_title: PACSPULL, storage_root: " << (dir / "store").string()
      << ", connect_timeout: 5s}\n"
      << "pacs:\n  - {name: nowhere, ae_title: NOPACS, host: 127.0.0.1, port: 1}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
      << "receiver: {dicom_port: " << dicom_port << ", grpc_port: " << grpc_port << ", metrics_port: " << metrics_port
      << ", allowed_callers: [TEXTPACS], accept_unsolicited: true}\n";  // storescu is not in pacs: (issue 11)
  }
  const fs::path receiver_log = dir / "receiver.log";
  ChildProcess receiver =
      ChildProcess::spawn({bin("pacspull-receiver").string(), "--config", config.string()}, {}, receiver_log);
  REQUIRE(wait_for([&] { return tcp_port_open(dicom_port) || !receiver.running(); }, std::chrono::seconds(60)));
  {
    INFO(log_tail(receiver_log));
    REQUIRE(receiver.running());
  }

  // One association per instance, so a failure names its file and bytes.
  std::vector<std::string> refused;
  bool crashed = false;
  for (const auto& entry : manifest) {
    const fs::path file = instances / entry["file"].get<std::string>();
    const fs::path log = dir / "storescu" / (entry["file"].get<std::string>() + ".log");
    fs::create_directories(log.parent_path());
    int rc = run_command({"storescu", "-v", "-aet", "TEXTPACS", "-aec", "PACSPULL", "-to", "30", "-ta", "30", "-td",
                          "60", "127.0.0.1", std::to_string(dicom_port), file.string()},
                         std::chrono::seconds(90), log, dicom_tool_env());
    const std::string status = store_status(read_file(log));
    if (rc != 0 || status.find("(Success)") == std::string::npos)
      refused.push_back(describe(entry) + ": storescu exit " + std::to_string(rc) + ", " + status);
    if (!receiver.running()) {
      crashed = true;
      refused.push_back("the receiver died after " + describe(entry));
      break;
    }
  }
  {  // scoped: these messages belong to the acknowledgement checks only
    std::string first_refused;
    for (size_t i = 0; i < refused.size() && i < 8; ++i) first_refused += "\n  " + refused[i];
    INFO(refused.size() << " of " << manifest.size() << " instances not acknowledged with Success; first ones:"
                        << first_refused);
    INFO("receiver log, error lines: " << error_lines(receiver_log) << "\nreceiver log tail:\n"
                                       << log_tail(receiver_log, 1500));
    CHECK_FALSE(crashed);
    CHECK(refused.empty());
  }

  // Success means "on disk and in the ledger": every instance has its row, under its
  // own study and series.
  std::vector<std::string> missing;
  {
    pqxx::connection c(db.url());
    pqxx::read_transaction t(c);
    for (const auto& entry : manifest) {
      auto r = t.exec_params("SELECT count(*) FROM instances WHERE sop_uid = $1 AND series_uid = $2 AND study_uid = $3",
                             entry["sop_instance_uid"].get<std::string>(),
                             entry["series_instance_uid"].get<std::string>(),
                             entry["study_instance_uid"].get<std::string>());
      if (r[0][0].as<long>() != 1) missing.push_back(describe(entry));
    }
  }
  INFO(missing.size() << " instances not in the ledger; first: " << (missing.empty() ? "" : missing.front()));
  CHECK(missing.empty());

  if (!crashed) {
    receiver.signal(SIGTERM);
    CHECK(receiver.wait(std::chrono::seconds(30)) == 0);
  }
  std::error_code ec;
  if (env_or("PACSPULL_KEEP_TEST_DIRS", "").empty()) fs::remove_all(dir, ec);
}
