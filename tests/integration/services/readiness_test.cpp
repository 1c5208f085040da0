// Readiness that means something: a running receiver's grpc.health.v1 status, read with
// `pullctl health`, goes NOT_SERVING when its bus (nats-server stopped), its ledger (its
// own PostgreSQL stopped) or its store (storage_root replaced by a file) is unusable, and
// SERVING again once each is back. Real nats-server and PostgreSQL, started here so they
// can be stopped (deploy/lib/stack.sh for PostgreSQL). The receiver logs with
// `log.format: json`: every line it writes must parse as one JSON object.
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>

#include "peers.hpp"
#include "process.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

namespace {

int stack(const fs::path& dir, const std::string& script) {
  const std::string src = env_or("PACSPULL_SOURCE_DIR", ".");
  return run_command({"/bin/bash", "-c", "set -e; source '" + src + "/deploy/lib/stack.sh'; " + script},
                     std::chrono::seconds(120), dir / "stack.log");
}

}  // namespace

TEST_CASE("grpc health follows the ledger, the bus and the store, down and back") {
  fs::path dir = make_temp_dir("pacspull-readiness");
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                           fs::perms::others_exec);
  const uint16_t pg_port = free_tcp_port(), nats_port = free_tcp_port(), grpc_port = free_tcp_port();
  const std::string pg = "start_postgres '" + (dir / "pg").string() + "' " + std::to_string(pg_port);
  REQUIRE(stack(dir, pg) == 0);
  auto start_nats = [&] {
    auto p = ChildProcess::spawn({"nats-server", "-js", "-sd", (dir / "nats").string(), "-a", "127.0.0.1", "-p",
                                  std::to_string(nats_port)},
                                 {}, dir / "nats.log");
    REQUIRE(wait_for([&] { return tcp_port_open(nats_port); }, std::chrono::seconds(20)));
    return p;
  };
  ChildProcess nats = start_nats();

  fs::path store = dir / "store";
  fs::path config = dir / "site.yaml";
  {
    std::ofstream f(config);
    f << "site: readiness\nlog: {format: json, level: debug}\nledger: {url: \"postgresql://postgres@127.0.0.1:" << pg_port << "/postgres\"}\n"
      << "bus: {url: \"nats://127.0.0.1:" << nats_port << "\"}\n"
      << "local: {storage_root: " << store.string() << "}\n"
      << "pacs:\n  - {name: nowhere, ae_title: NOPACS, host: 127.0.0.1, port: 1}\n"
      << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
      << "receiver: {dicom_port: " << free_tcp_port() << ", grpc_port: " << grpc_port
      << ", metrics_port: " << free_tcp_port() << "}\n";
  }
  fs::path log = dir / "receiver.log";
  auto receiver = ChildProcess::spawn({bin("pacspull-receiver").string(), "--config", config.string()}, {}, log);

  std::string last;
  auto receiver_status = [&] {
    fs::path out = dir / "health.json";
    fs::remove(out);
    run_command({"/bin/sh", "-c",
                 "exec '" + bin("pullctl").string() + "' --config '" + config.string() +
                     "' --output json health --timeout 2 2>/dev/null"},
                std::chrono::seconds(30), out);
    last = read_file(out);
    try {
      const nlohmann::json doc = nlohmann::json::parse(last);
      for (const auto& s : doc["services"])
        if (s["service"] == "receiver") return s["status"].get<std::string>();
    } catch (const std::exception&) {
    }
    return std::string("?");
  };
  auto becomes = [&](const std::string& want) {
    bool ok = wait_for([&] { return receiver_status() == want; }, std::chrono::seconds(60), std::chrono::milliseconds(500));
    if (!ok) UNSCOPED_INFO("waited for " << want << "; last pullctl health: " << last << "\nreceiver log:\n" << log_tail(log));
    return ok;
  };

  REQUIRE(becomes("SERVING"));

  SECTION("bus") {
    nats.stop();
    CHECK(becomes("NOT_SERVING"));
    nats = start_nats();
    CHECK(becomes("SERVING"));
    CHECK_THAT(read_file(log), Catch::Contains("readiness: bus unusable") && Catch::Contains("readiness: bus usable again"));
  }
  SECTION("ledger") {
    REQUIRE(stack(dir, "stop_postgres '" + (dir / "pg").string() + "'") == 0);
    CHECK(becomes("NOT_SERVING"));
    REQUIRE(stack(dir, pg) == 0);
    CHECK(becomes("SERVING"));
    CHECK_THAT(read_file(log), Catch::Contains("readiness: ledger unusable"));
  }
  SECTION("store") {
    fs::remove_all(store);
    std::ofstream(store) << "not a directory";
    CHECK(becomes("NOT_SERVING"));
    fs::remove(store);
    CHECK(becomes("SERVING"));
    CHECK_THAT(read_file(log), Catch::Contains("readiness: store unusable"));
  }
  receiver.signal(SIGTERM);
  CHECK(receiver.wait(std::chrono::seconds(30)) == 0);
  {
    std::ifstream in(log);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
      ++lines;
      INFO("log line " << lines << ": " << line);
      nlohmann::json j;
      REQUIRE_NOTHROW(j = nlohmann::json::parse(line));
      CHECK(j["service"] == "receiver");
      CHECK(j.contains("time"));
      CHECK(j.contains("level"));
      CHECK(j["message"].is_string());
    }
    CHECK(lines > 5);
  }
  nats.stop();
  stack(dir, "stop_postgres '" + (dir / "pg").string() + "'");
  fs::remove_all(dir);
}
