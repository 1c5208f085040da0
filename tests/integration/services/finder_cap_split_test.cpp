// The real finder against a real Orthanc whose C-FIND answers are capped
// (LimitFindResults, like a cheap PACS): the probe finds the cap, and every capped
// study-level query is split by date, then time range, then modality, until each part is
// under the cap; no candidate study of the generated day is silently dropped (issue 9
// part 4). Real PostgreSQL and nats-server from tests/run.sh.
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>

#include "orthanc.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "test_db.hpp"
#include "service_tests.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

namespace {

std::set<std::string> ledger_studies(const std::string& url) {
  pqxx::connection c(url);
  pqxx::read_transaction t(c);
  std::set<std::string> out;
  for (const auto& r : t.exec("SELECT study_uid FROM studies")) out.insert(r[0].c_str());
  return out;
}

std::string one(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::read_transaction t(c);
  pqxx::result r = t.exec(sql);
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].c_str();
}

}  // namespace

TEST_CASE("A PACS capping C-FIND answers at 4: queries are split until no candidate study is missing") {
  fs::path dir = make_temp_dir("pacspull-capsplit");
  struct Cleanup {  // declared first: removed after Orthanc and the finder stopped
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      if (env_or("PACSPULL_KEEP_TEST_DIRS", "").empty()) fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  nlohmann::json manifest;
  std::ifstream(run_gen_day(dir / "day", GenDayOptions{})) >> manifest;
  OrthancOptions options;
  options.limit_find_results = 4;
  OrthancPacs pacs(dir / "pacs", "CAPPACS", {}, options);
  pacs.upload(dir / "day" / "initial");
  pacs.upload(dir / "day" / "late");

  std::set<std::string> candidates;  // every study the finder must record (all but not_pulled)
  for (const auto& s : manifest["studies"])
    if (s["expected"]["state"] != "not_pulled") candidates.insert(s["study_instance_uid"].get<std::string>());
  REQUIRE(candidates.size() > 4 * 3);  // far more than the cap, in every modality query

  TestDatabase db;
  fs::path config = dir / "site.yaml";
  std::ofstream(config) << "site: cap-split\n"
                        << "ledger: {url: \"" << db.url() << "\"}\n"
                        << "bus: {url: \"" << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
                        << "local: {storage_root: " << (dir / "store").string() << ", connect_timeout: 5s}\n"
                        << "pacs:\n  - {name: capped, ae_title: CAPPACS, host: 127.0.0.1, port: " << pacs.dicom_port()
                        << "}\n"
                        << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
                        << "finder: {poll_interval: 1s, crossday: -1, grpc_port: " << free_tcp_port()
                        << ", metrics_port: " << free_tcp_port() << "}\n";
  fs::path log = dir / "finder.log";
  auto finder = ChildProcess::spawn({bin("pacspull-finder").string(), "--config", config.string()}, {}, log);
  std::set<std::string> found;
  bool all = wait_for(
      [&] {
        try {
          found = ledger_studies(db.url());
        } catch (const std::exception&) {
          return false;  // not migrated yet
        }
        for (const auto& uid : candidates)
          if (!found.count(uid)) return false;
        return read_file(log).find("poll done") != std::string::npos;
      },
      std::chrono::seconds(120), std::chrono::milliseconds(250));
  finder.signal(SIGTERM);
  finder.wait(std::chrono::seconds(30));
  const std::string text = read_file(log);
  INFO(log_tail(log, 6000));
  std::string missing;
  for (const auto& s : manifest["studies"])
    if (candidates.count(s["study_instance_uid"].get<std::string>()) && !found.count(s["study_instance_uid"].get<std::string>()))
      missing += " " + s["key"].get<std::string>();
  INFO("candidate studies missing from the ledger:" << missing);
  CHECK(all);
  CHECK(missing.empty());
  // The probe saw the cap (0xFE00 after 4 answers) and stored it; the finder split.
  CHECK(one(db.url(), "SELECT result_cap FROM pacs_capabilities WHERE pacs = 'capped'") == "4");
  CHECK_THAT(text, Catch::Contains("capped the C-FIND") && Catch::Contains("split into"));
  CHECK(text.find("cannot be split further") == std::string::npos);
  // Nothing that is not a candidate slipped in (the MR study stays out).
  for (const auto& uid : found) CHECK(candidates.count(uid) == 1);
}
