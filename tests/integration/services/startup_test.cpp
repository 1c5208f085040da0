// Start-up failures map to distinct exit codes with a clear message; a healthy service
// serves /metrics and stops cleanly on SIGTERM. Real PostgreSQL and nats-server.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <sstream>

#include "orthanc.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

namespace {

struct Site {
  fs::path dir = make_temp_dir("pacspull-startup");
  std::string ledger_url = "postgresql://postgres@127.0.0.1:1/none";
  std::string bus_url = env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222");
  uint16_t dicom_port = free_tcp_port();
  uint16_t grpc_port = free_tcp_port();
  uint16_t metrics_port = free_tcp_port();
  std::string extra;

  fs::path write() const {
    fs::path p = dir / "site.yaml";
    std::ofstream f(p);
    f << "site: startup\nledger: {url: \"" << ledger_url << "\"}\nbus: {url: \"" << bus_url << "\"}\n"
      << "local: {storage_root: " << (dir / "store").string() << ", connect_timeout: 1s}\n"
      << "pacs:\n  - {name: nowhere, ae_title: NOPACS, host: 127.0.0.1, port: 1}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
      << "finder: {poll_interval: 1s, grpc_port: " << grpc_port << ", metrics_port: " << metrics_port << "}\n"
      << "receiver: {dicom_port: " << dicom_port << ", grpc_port: " << grpc_port << ", metrics_port: " << metrics_port
      << "}\n"
      << extra << "grpc: {token_file: " << (dir / "grpc-token").string() << "}\n";  // pullctl filter reload
    std::ofstream(dir / "grpc-token") << "startup-test:0123456789abcdef0123\n";
    return p;
  }
};

int run_service(const std::string& name, const fs::path& config, const fs::path& log) {
  return run_command({bin(name).string(), "--config", config.string()}, std::chrono::seconds(60), log);
}

}  // namespace

TEST_CASE("A bad site file stops the service with exit code 2 and names the line") {
  Site s;
  s.extra = "checker: {stabel_age: 30s}\n";
  fs::path log = s.dir / "finder.log";
  CHECK(run_service("pacspull-finder", s.write(), log) == 2);
  CHECK_THAT(read_file(log), Catch::Contains("site.yaml:10: unknown key 'stabel_age' in 'checker'"));
}

TEST_CASE("An unreachable ledger is exit code 3") {
  Site s;
  fs::path log = s.dir / "finder.log";
  CHECK(run_service("pacspull-finder", s.write(), log) == 3);
  CHECK_THAT(read_file(log), Catch::Contains("ledger"));
}

TEST_CASE("An unreachable bus is exit code 4") {
  TestDatabase db;
  Site s;
  s.ledger_url = db.url();
  s.bus_url = "nats://127.0.0.1:1";
  fs::path log = s.dir / "finder.log";
  CHECK(run_service("pacspull-finder", s.write(), log) == 4);
}

TEST_CASE("A DICOM port already taken is exit code 5 for the receiver") {
  TestDatabase db;
  Site s;
  s.ledger_url = db.url();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(s.dicom_port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd, 4) == 0);
  fs::path log = s.dir / "receiver.log";
  CHECK(run_service("pacspull-receiver", s.write(), log) == 5);
  close(fd);
}

TEST_CASE("A running finder whose PACS is down logs, counts the failure in /metrics, and stops on SIGTERM") {
  TestDatabase db;
  Site s;
  s.ledger_url = db.url();
  fs::path log = s.dir / "finder.log";
  auto p = ChildProcess::spawn({bin("pacspull-finder").string(), "--config", s.write().string()}, {}, log);
  std::string body;
  bool counted = wait_for(
      [&] {
        body = http_request(s.metrics_port, "GET", "/metrics", {}, std::chrono::seconds(2)).body;
        // The series exists at 0 from start-up (so "all failing" alerts can fire): wait for a count.
        std::istringstream lines(body);
        for (std::string line; std::getline(lines, line);)
          if (line.rfind("pacspull_finder_query_errors_total{", 0) == 0 && line.find("nowhere") != std::string::npos &&
              std::stod(line.substr(line.rfind(' ') + 1)) >= 1)
            return true;
        return false;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(200));
  INFO(read_file(log));
  CHECK(counted);
  CHECK_THAT(body, Catch::Contains("pacs=\"nowhere\""));
  CHECK_THAT(read_file(log), Catch::Contains("ModalitiesInStudy CT on PACS nowhere failed"));
  CHECK(tcp_port_open(s.grpc_port));
  p.signal(SIGTERM);
  CHECK(p.wait(std::chrono::seconds(30)) == 0);
}

TEST_CASE("The filter reloads its rules without a restart and keeps the old ones when the new file is bad") {
  TestDatabase db;
  Site s;
  s.ledger_url = db.url();
  s.extra = "filter: {grpc_port: " + std::to_string(s.grpc_port) + ", metrics_port: " + std::to_string(s.metrics_port) +
            "}\nrules: {ct: {min_instances: 10}}\n";
  // The finder/receiver ports above are unused here: only the filter runs.
  fs::path config = s.write();
  fs::copy_file(config, s.dir / "pullctl.yaml");
  fs::path log = s.dir / "filter.log";
  auto p = ChildProcess::spawn({bin("pacspull-filter").string(), "--config", config.string()}, {}, log);
  REQUIRE(wait_for([&] { return tcp_port_open(s.grpc_port); }, std::chrono::seconds(60)));
  auto pullctl = [&](const std::vector<std::string>& args) {
    // pullctl reads its own copy of the site file: the filter's copy is about to break.
    std::vector<std::string> argv{bin("pullctl").string(), "--config", (s.dir / "pullctl.yaml").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    fs::path out = s.dir / "pullctl.out";
    fs::remove(out);
    int rc = run_command(argv, std::chrono::seconds(30), out);
    return std::make_pair(rc, read_file(out));
  };
  auto [rc0, before] = pullctl({"filter", "reload"});
  REQUIRE(rc0 == 0);

  s.extra = "filter: {grpc_port: " + std::to_string(s.grpc_port) + ", metrics_port: " + std::to_string(s.metrics_port) +
            "}\nrules: {ct: {min_instances: 20}}\n";
  s.write();
  auto [rc1, changed] = pullctl({"filter", "reload"});
  CHECK(rc1 == 0);
  CHECK(changed != before);  // a new rule-set version

  s.extra = "filter: {grpc_port: " + std::to_string(s.grpc_port) + ", metrics_port: " + std::to_string(s.metrics_port) +
            "}\nrules: {ct: {min_instancez: 20}}\n";
  s.write();
  auto [rc2, rejected] = pullctl({"filter", "reload"});
  CHECK(rc2 == 1);
  CHECK_THAT(rejected, Catch::Contains("min_instancez") && Catch::Contains(changed.substr(0, changed.find('\n'))));
  p.signal(SIGTERM);
  CHECK(p.wait(std::chrono::seconds(30)) == 0);
}
