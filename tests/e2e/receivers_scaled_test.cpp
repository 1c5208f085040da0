// Three receivers behind HAProxy (issue 7, receivers scaled out). The PACS knows one
// C-MOVE destination: HAProxy in TCP mode, configured from deploy/haproxy/haproxy.cfg
// (render-local.sh puts local ports in place of DNS discovery). Behind it three
// pacspull-receiver processes share one store and one ledger. A generated day is pulled
// while one receiver is killed with SIGKILL and restarted:
// - exactly the expected SOP set at the AI node, each instance by one C-STORE, each study
//   dispatched once, every file the PACS's object, whole;
// - the restarted receiver removes only temp files of its dead predecessor, never one of a
//   live sibling (a temp file named for a live sibling, and one of another host, both fresh,
//   survive its start), and the live receivers never lose a temp file in flight.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "outcome_checks.hpp"
#include "pacspull/pipeline/storage.hpp"
#include "pipeline_fixture.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string hostname() {
  char name[256] = {0};
  ::gethostname(name, sizeof name - 1);
  return name;
}

struct Replica {
  int index = 0;
  uint16_t dicom_port = 0, grpc_port = 0, metrics_port = 0;
  fs::path config, log;
  ChildProcess process;
};

// The fixture's site file with this replica's own receiver ports (store, ledger, bus shared).
void write_replica_config(const PipelineFixture& f, Replica& r) {
  r.dicom_port = free_tcp_port();
  r.grpc_port = free_tcp_port();
  r.metrics_port = free_tcp_port();
  r.config = f.dir() / ("site-receiver" + std::to_string(r.index) + ".yaml");
  r.log = f.dir() / ("receiver" + std::to_string(r.index) + ".log");
  std::istringstream in(read_file(f.config_path()));
  std::ofstream out(r.config);
  int replaced = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("receiver: {", 0) == 0) {
      line = "receiver: {dicom_port: " + std::to_string(r.dicom_port) + ", grpc_port: " + std::to_string(r.grpc_port) +
             ", metrics_port: " + std::to_string(r.metrics_port) + "}";
      ++replaced;
    }
    out << line << "\n";
  }
  REQUIRE(replaced == 1);
}

void start(const PipelineFixture& f, Replica& r) {
  r.process = ChildProcess::spawn({(f.bin_dir() / "pacspull-receiver").string(), "--config", r.config.string()},
                                  f.service_env("receiver"), r.log);
  const bool up = wait_for([&] { return tcp_port_open(r.dicom_port) || !r.process.running(); }, 60s);
  INFO("receiver " << r.index << " log:\n" << log_tail(r.log));
  REQUIRE(up);
  REQUIRE(r.process.running());
}

// Lines of a log that contain every one of `parts`.
std::vector<std::string> lines_with(const fs::path& log, const std::vector<std::string>& parts) {
  std::vector<std::string> out;
  std::istringstream in(read_file(log));
  for (std::string line; std::getline(in, line);) {
    bool all = true;
    for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("Three receivers behind HAProxy, one killed and restarted mid-pull: exact SOP set, nothing twice, no "
          "temp file of a live receiver removed",
          "[e2e][receiver][scale]") {
  PipelineFixture f("e2e-scaled");
  const fs::path source = env_or("PACSPULL_SOURCE_DIR", ".");

  std::vector<Replica> rx(3);
  for (int k = 0; k < 3; ++k) {
    rx[k].index = k + 1;
    write_replica_config(f, rx[k]);
    start(f, rx[k]);
  }

  // HAProxy on the port the PACS knows, in front of the three.
  const fs::path ha_cfg = f.dir() / "haproxy.cfg";
  const uint16_t stats_port = free_tcp_port();
  std::vector<std::string> render{"bash", (source / "deploy/haproxy/render-local.sh").string(),
                                  "--bind", std::to_string(f.receiver_port()),
                                  "--stats", std::to_string(stats_port),
                                  "--check-inter", "1s"};
  for (const auto& r : rx) {
    render.push_back("--server");
    render.push_back("127.0.0.1:" + std::to_string(r.dicom_port));
  }
  REQUIRE(run_command(render, 30s, ha_cfg) == 0);
  const fs::path ha_log = f.dir() / "haproxy.log";
  {
    const int rc = run_command({"haproxy", "-c", "-f", ha_cfg.string()}, 30s, ha_log);
    INFO(read_file(ha_log) << read_file(ha_cfg));
    REQUIRE(rc == 0);
  }
  ChildProcess haproxy = ChildProcess::spawn({"haproxy", "-db", "-f", ha_cfg.string()}, {}, ha_log);
  REQUIRE(wait_for([&] { return tcp_port_open(f.receiver_port()) || !haproxy.running(); }, 30s));
  REQUIRE(haproxy.running());

  f.upload_part("initial");
  f.upload_part("late");
  for (const auto& s : PipelineFixture::services())
    if (s != "receiver") f.start(s);

  // Mid-pull: some instances in, far from all.
  REQUIRE(f.wait_count("SELECT count(*) FROM instances", 30, 120));
  const long before_kill = f.count("SELECT count(*) FROM instances");
  const long settled_before_kill =
      f.count("SELECT count(*) FROM studies WHERE state IN ('completed', 'unsupported', 'failed')");

  // Temp files a restarting receiver must keep: one named for a live sibling (this host,
  // its pid), one of another host; both fresh.
  const fs::path incoming = f.dir() / "store" / ".incoming";
  fs::create_directories(incoming);
  const std::string host = pacspull::pipeline::temp_host(hostname());  // as it appears in temp names
  const fs::path sibling_tmp =
      incoming / ("rx-" + host + "-" + std::to_string(rx[1].process.pid()) + "-00000000000000b2-900001.tmp");
  const fs::path other_host_tmp = incoming / "rx-other-pod-7-00000000000000c3-900002.tmp";
  std::ofstream(sibling_tmp) << "in flight at a live sibling";
  std::ofstream(other_host_tmp) << "in flight at another pod";

  // kill -9 of receiver 1 (its associations die mid-transfer) and a restart on its port.
  const pid_t killed = rx[0].process.pid();
  rx[0].process.signal(SIGKILL);
  rx[0].process.wait(10s);
  const fs::path first_life = f.dir() / "receiver1-first-life.log";
  fs::rename(rx[0].log, first_life);
  start(f, rx[0]);

  CHECK(fs::exists(sibling_tmp));
  CHECK(fs::exists(other_host_tmp));
  CHECK(lines_with(rx[0].log, {"kept temp file", sibling_tmp.filename().string()}).size() == 1);
  CHECK(lines_with(rx[0].log, {"kept temp file", other_host_tmp.filename().string()}).size() == 1);
  // Whatever it removed was its dead predecessor's.
  const std::regex temp_name(R"(removed temp file rx-(.+)-(\d+)-[0-9a-f]+-\d+\.tmp)");
  long removed = 0;
  for (const auto& line : lines_with(rx[0].log, {"removed temp file"})) {
    std::smatch m;
    INFO(line);
    REQUIRE(std::regex_search(line, m, temp_name));
    CHECK(m[1].str() == host);
    CHECK(m[2].str() == std::to_string(killed));
    ++removed;
  }
  fs::remove(sibling_tmp);
  fs::remove(other_host_tmp);

  const bool settled = wait_all_settled(f, 150);
  for (const auto& r : rx) UNSCOPED_INFO("receiver " << r.index << " log:\n" << log_tail(r.log, 3000));
  UNSCOPED_INFO("haproxy log:\n" << log_tail(ha_log, 3000));
  CHECK(settled);
  check_exact_at_ai_node(f);
  CHECK(check_files_match_pacs(f, f.ai().out_dir(), "ai-node") == static_cast<long>(f.expected_sops().size()));

  // The live siblings never failed a C-STORE over a temp file that vanished under them.
  for (int k : {1, 2}) {
    INFO("receiver " << rx[k].index);
    CHECK(lines_with(rx[k].log, {".tmp", "No such file"}).empty());
  }
  // The balancer spread the day: instances recorded by at least two receiver processes.
  const long writers = f.count("SELECT count(DISTINCT receiver) FROM instances");
  CHECK(writers >= 2);
  // Nothing half-written stays in the shared store once all is settled.
  long temps = 0;
  for (const auto& e : fs::directory_iterator(incoming)) temps += e.is_regular_file() ? 1 : 0;
  CHECK(temps == 0);

  WARN("scaled: killed receiver 1 (pid " << killed << ") with " << before_kill << " instances recorded and "
                                          << settled_before_kill << " of " << f.expected_settled()
                                          << " studies settled; its successor removed " << removed
                                          << " temp files; instances recorded by " << writers
                                          << " receiver processes");
  for (auto& r : rx) r.process.stop(20s);
  haproxy.stop(10s);
}
