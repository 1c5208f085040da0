// End to end against DCMTK's dcmqrscp as the PACS (issue 9): its study-level C-FIND
// answers carry neither ModalitiesInStudy nor NumberOfStudyRelatedInstances, its series
// level only Modality. With DEFAULT finder settings the finder must probe that, learn
// modalities and counts from series and image level, wait for a stable series
// fingerprint, and the generated day (with its field problems) must reach the AI node
// exactly: the expected SOP instances, each once, and the ledger must agree.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>

#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "dcmqrscp_peer.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "test_db.hpp"

namespace fs = std::filesystem;
using namespace pacspull::testing;

namespace {

const std::vector<std::string> kServices{"finder", "mover", "receiver", "filter", "checker", "dispatcher"};

struct Pipeline {
  fs::path dir = make_temp_dir("pacspull-qr-e2e");
  fs::path bin = fs::path(env_or("PACSPULL_BINARY_DIR", "build")) / "bin";
  TestDatabase db;
  uint16_t nats_port = free_tcp_port(), receiver_port = free_tcp_port();
  ChildProcess nats;
  std::unique_ptr<StoreScpNode> ai;
  std::unique_ptr<DcmQrScpPeer> pacs;  // holds the day; C-MOVE destination PACSPULL is our receiver
  nlohmann::json manifest;
  std::map<std::string, ChildProcess> running;
  fs::path config = dir / "site.yaml";

  Pipeline() {
    std::ifstream(run_gen_day(dir / "day", GenDayOptions{})) >> manifest;
    nats = ChildProcess::spawn({"nats-server", "-js", "-sd", (dir / "nats").string(), "-a", "127.0.0.1", "-p",
                                std::to_string(nats_port)},
                               {}, dir / "nats.log");
    if (!wait_for([&] { return tcp_port_open(nats_port); }, std::chrono::seconds(20)))
      throw std::runtime_error("nats-server did not start");
    ai = std::make_unique<StoreScpNode>(dir / "ai-node", "AINODE");
    pacs = std::make_unique<DcmQrScpPeer>(dir / "dcmqrscp", "QRSCP",
                                          std::vector<DicomNode>{{"PACSPULL", "127.0.0.1", receiver_port}});
    std::ofstream f(config);
    // Default finder settings: no pass_without_modalities, no fixed_delay, no pins.
    f << "site: e2e-dcmqrscp\n"
      << "ledger: {url: \"" << db.url() << "\"}\n"
      << "bus: {url: \"nats://127.0.0.1:" << nats_port << "\"}\n"
      << "reconcile_after: 5s\n"
      << "local:\n  ae_title: PACSPULL\n  receiver_ae_title: PACSPULL\n  storage_root: " << (dir / "store").string()
      << "\n  connect_timeout: 5s\n  acse_timeout: 10s\n  dimse_timeout: 30s\n"
      << "pacs:\n  - {name: qrscp, ae_title: QRSCP, host: 127.0.0.1, port: " << pacs->port() << "}\n"
      << "ai_node: {ae_title: AINODE, host: 127.0.0.1, port: " << ai->port() << "}\n"
      << "finder: {poll_interval: 1s, crossday: -1, grpc_port: " << free_tcp_port()
      << ", metrics_port: " << free_tcp_port() << "}\n"
      << "mover: {max_attempts: 5, retry_backoff: 1s, grpc_port: " << free_tcp_port()
      << ", metrics_port: " << free_tcp_port() << "}\n"
      << "receiver: {dicom_port: " << receiver_port << ", grpc_port: " << free_tcp_port()
      << ", metrics_port: " << free_tcp_port() << "}\n"
      << "filter: {grpc_port: " << free_tcp_port() << ", metrics_port: " << free_tcp_port() << "}\n"
      << "checker: {stable_age: 2s, scan_interval: 500ms, max_repulls: 3, grpc_port: " << free_tcp_port()
      << ", metrics_port: " << free_tcp_port() << "}\n"
      << "dispatcher: {grpc_port: " << free_tcp_port() << ", metrics_port: " << free_tcp_port() << "}\n";
  }
  ~Pipeline() {
    for (auto& [name, p] : running) p.signal(SIGTERM);
    for (auto& [name, p] : running) p.stop(std::chrono::seconds(10));
    std::error_code ec;
    if (env_or("PACSPULL_KEEP_TEST_DIRS", "").empty()) fs::remove_all(dir, ec);
  }
  void start_all() {
    for (const auto& s : kServices)
      running.emplace(s, ChildProcess::spawn({(bin / ("pacspull-" + s)).string(), "--config", config.string()},
                                             {{"TCP_NODELAY", "1"}}, dir / (s + ".log")));
  }
  std::string query(const std::string& sql) {
    pqxx::connection c(db.url());
    pqxx::read_transaction t(c);
    pqxx::result r = t.exec(sql);
    if (r.empty() || r[0][0].is_null()) return "";
    return r[0][0].c_str();
  }
  long count(const std::string& sql) {
    std::string v = query(sql);
    return v.empty() ? 0 : std::stol(v);
  }
  bool wait_count(const std::string& sql, long n, int seconds) {
    return wait_for(
        [&] {
          try {
            return count(sql) >= n;
          } catch (const std::exception&) {
            return false;  // schema not migrated yet
          }
        },
        std::chrono::seconds(seconds), std::chrono::milliseconds(250));
  }
  std::string pullctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{(bin / "pullctl").string(), "--config", config.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    fs::path out = dir / "pullctl.out";
    fs::remove(out);
    run_command(argv, std::chrono::seconds(60), out);
    return read_file(out);
  }
  const nlohmann::json& study(const std::string& key) const {
    for (const auto& s : manifest["studies"])
      if (s["key"] == key) return s;
    throw std::out_of_range(key);
  }
};

std::set<std::string> expected_sops_of(const nlohmann::json& s) {
  std::set<std::string> wanted, out;
  for (const auto& uid : s["expected"]["dispatch"]) wanted.insert(uid.get<std::string>());
  for (const auto& series : s["series"])
    if (wanted.count(series["series_instance_uid"].get<std::string>()))
      for (const auto& i : series["instances"]) out.insert(i["sop_instance_uid"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("dcmqrscp as the PACS, default settings: the day is pulled exactly right", "[e2e][dcmqrscp]") {
  Pipeline p;
  p.pacs->upload(p.dir / "day" / "initial");
  p.start_all();

  // The growing study: its second half reaches the PACS after the finder first saw it.
  const std::string growing = p.study("e2e05_growing_chest_ct")["study_instance_uid"];
  REQUIRE(p.wait_count("SELECT count(*) FROM studies WHERE study_uid = '" + growing + "'", 1, 90));
  p.pacs->upload(p.dir / "day" / "late");

  long settled_wanted = 0, sop_total = 0;
  for (const auto& s : p.manifest["studies"])
    if (s["expected"]["state"] != "not_pulled") {
      ++settled_wanted;
      sop_total += static_cast<long>(expected_sops_of(s).size());
    }
  const bool settled = p.wait_count(
      "SELECT count(*) FROM studies WHERE state IN ('completed', 'unsupported', 'failed')", settled_wanted, 300);
  if (!settled)
    for (const auto& s : kServices) UNSCOPED_INFO(s << " log:\n" << log_tail(p.dir / (s + ".log"), 5000));
  CHECK(settled);

  // The probe saw what dcmqrscp is, and the finder said so.
  CHECK(p.query("SELECT study_modalities::text FROM pacs_capabilities WHERE pacs = 'qrscp'") == "false");
  CHECK(p.query("SELECT study_counts::text FROM pacs_capabilities WHERE pacs = 'qrscp'") == "false");
  CHECK(p.query("SELECT image_level::text FROM pacs_capabilities WHERE pacs = 'qrscp'") == "true");
  CHECK_THAT(p.query("SELECT plan FROM pacs_capabilities WHERE pacs = 'qrscp'"),
             Catch::Contains("series-level C-FIND per study") && Catch::Contains("image-level C-FIND per series"));
  // Stability came from the series fingerprint, not a fixed delay.
  CHECK(p.count("SELECT count(*) FROM events WHERE kind = 'stable' AND detail LIKE '%series fingerprint unchanged%'") >= 1);
  CHECK(p.count("SELECT count(*) FROM events WHERE detail LIKE '%fixed delay%'") == 0);
  // Series filtering before the move: the chest CT's scout stays behind in the request.
  const auto& chest = p.study("e2e01_chest_ct");
  const std::string chest_uid = chest["study_instance_uid"];
  const std::string scout = chest["series"][0]["series_instance_uid"];
  CHECK(p.count("SELECT count(*) FROM studies WHERE study_uid = '" + chest_uid + "' AND move_series IS NOT NULL") == 1);
  CHECK(p.count("SELECT count(*) FROM studies WHERE study_uid = '" + chest_uid + "' AND '" + scout +
                "' = ANY(move_series)") == 0);
  // C-GET works (the probe's one instance arrived), so the finder sampled one header per CT
  // series (finder.sample_headers: auto): the 5 mm series of the chest CT stays behind too,
  // and the head CT is settled unsupported by the finder, never moved.
  CHECK(p.query("SELECT c_get::text FROM pacs_capabilities WHERE pacs = 'qrscp'") == "true");
  const std::string thick = chest["series"][1]["series_instance_uid"];
  CHECK(p.count("SELECT count(*) FROM studies WHERE study_uid = '" + chest_uid + "' AND '" + thick +
                "' = ANY(move_series)") == 0);
  const std::string head_uid = p.study("e2e02_head_ct")["study_instance_uid"];
  CHECK(p.count("SELECT count(*) FROM move_jobs WHERE study_uid = '" + head_uid + "'") == 0);
  CHECK(p.count("SELECT count(*) FROM events WHERE study_uid = '" + head_uid +
                "' AND service = 'finder' AND kind = 'unsupported'") >= 1);
  // The DX study moves whole.
  const std::string dx_uid = p.study("e2e03_chest_dx")["study_instance_uid"];
  CHECK(p.count("SELECT count(*) FROM studies WHERE study_uid = '" + dx_uid + "' AND move_series IS NULL") == 1);

  // The AI node: exactly the expected instances, each once.
  wait_for([&] { return static_cast<long>(p.ai->sop_instance_uids().size()) >= sop_total; }, std::chrono::seconds(30));
  const std::map<std::string, int> received = p.ai->received_counts();
  long lost = 0, extra = 0, twice = 0;
  for (const auto& s : p.manifest["studies"]) {
    const std::string uid = s["study_instance_uid"];
    const std::set<std::string> want = expected_sops_of(s);
    std::set<std::string> got;
    for (const auto& file : p.ai->files_of_study(uid)) got.insert(sop_uid_from_storescp_name(file.filename().string()));
    long missing = 0, unexpected = 0, more = 0;
    for (const auto& sop : want) missing += got.count(sop) ? 0 : 1;
    for (const auto& sop : got) {
      unexpected += want.count(sop) ? 0 : 1;
      auto it = received.find(sop);
      more += (it != received.end() && it->second > 1) ? 1 : 0;
    }
    lost += missing;
    extra += unexpected;
    twice += more;
    const std::string expected_state = s["expected"]["state"];
    const std::string state = p.query("SELECT state FROM studies WHERE study_uid = '" + uid + "'");
    INFO("study " << s["key"].get<std::string>() << ": expected " << want.size() << " instances at the AI node ("
                  << s["expected"]["why"].get<std::string>() << "), got " << got.size() << "; missing " << missing
                  << ", unexpected " << unexpected << ", more than once " << more << "; ledger state '" << state
                  << "', expected " << expected_state);
    CHECK(missing == 0);
    CHECK(unexpected == 0);
    CHECK(more == 0);
    if (expected_state == "not_pulled") {
      CHECK(state.empty());
    } else {
      CHECK(state == expected_state);
      CHECK(p.count("SELECT count(*) FROM dispatches WHERE status = 'sent' AND study_uid = '" + uid + "'") ==
            (expected_state == "completed" ? 1 : 0));
    }
  }
  CHECK(lost == 0);
  CHECK(extra == 0);
  CHECK(twice == 0);

  // `pullctl pacs probe` shows the same verdict, as JSON for scripts.
  auto doc = nlohmann::json::parse(p.pullctl({"--output", "json", "pacs", "probe", "qrscp"}));
  CHECK(doc["capabilities"]["study_modalities"] == false);
  CHECK(doc["capabilities"]["series_modality"] == true);
  CHECK(doc["capabilities"]["filters_modalities"] == false);
  CHECK(doc["capabilities"]["result_cap"] == 0);
  CHECK(doc["capabilities"]["c_get"] == true);
  CHECK(doc["series_filter"] == true);
}
