// Multi-PACS failover, end to end: Orthanc and DCMTK's dcmqrscp hold the same generated
// day; the six services pull it; Orthanc is stopped mid-day. Every move Orthanc can no
// longer serve fails over to dcmqrscp (a C-FIND tells the mover it holds the study), and
// the AI node must still get exactly the expected SOP instances, each exactly once.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "dcmqrscp_peer.hpp"
#include "pipeline_fixture.hpp"

using pacspull::testing::DcmQrScpPeer;
using pacspull::testing::PipelineFixture;

namespace {

std::set<std::string> expected_sops_of(const nlohmann::json& s) {
  std::set<std::string> wanted, out;
  for (const auto& uid : s["expected"]["dispatch"]) wanted.insert(uid.get<std::string>());
  for (const auto& series : s["series"])
    if (wanted.count(series["series_instance_uid"].get<std::string>()))
      for (const auto& i : series["instances"]) out.insert(i["sop_instance_uid"].get<std::string>());
  return out;
}

uint16_t receiver_port_of(const std::filesystem::path& site) {
  std::smatch m;
  const std::string text = pacspull::testing::read_file(site);
  if (!std::regex_search(text, m, std::regex("receiver: \\{dicom_port: ([0-9]+)"))) throw std::runtime_error("no receiver port");
  return static_cast<uint16_t>(std::stoi(m[1]));
}

// Adds a second PACS after the first one in the site file.
void add_pacs(const std::filesystem::path& site, const std::string& entry) {
  std::string text = pacspull::testing::read_file(site);
  const auto at = text.find("\nai_node:");
  REQUIRE(at != std::string::npos);
  text.insert(at + 1, entry + "\n");
  std::ofstream(site) << text;
}

// Exactly the expected SOP instances at the AI node, each received once.
void check_exact_set(PipelineFixture& f) {
  std::set<std::string> want;
  for (const auto& s : f.manifest()["studies"]) {
    auto w = expected_sops_of(s);
    want.insert(w.begin(), w.end());
  }
  pacspull::testing::wait_for([&] { return f.ai().sop_instance_uids().size() >= want.size(); },
                              std::chrono::seconds(30));
  const auto received = f.ai().received_counts();
  const auto got_list = f.ai().sop_instance_uids();
  const std::set<std::string> got(got_list.begin(), got_list.end());
  std::vector<std::string> missing, unexpected, twice;
  for (const auto& sop : want)
    if (!got.count(sop)) missing.push_back(sop);
  for (const auto& sop : got)
    if (!want.count(sop)) unexpected.push_back(sop);
  for (const auto& [sop, n] : received)
    if (n > 1) twice.push_back(sop + " x" + std::to_string(n));
  INFO("missing " << missing.size() << ", unexpected " << unexpected.size() << ", twice " << twice.size()
                  << (missing.empty() ? "" : "; first missing " + missing.front()));
  CHECK(missing.empty());
  CHECK(unexpected.empty());
  CHECK(twice.empty());
  CHECK(got.size() == want.size());
}

}  // namespace

TEST_CASE("Orthanc stopped mid-day: moves fail over to dcmqrscp, the AI node gets exactly the expected set once",
          "[e2e][failover]") {
  PipelineFixture f("failover");
  f.upload_part("initial");
  f.upload_part("late");
  DcmQrScpPeer qr(f.dir() / "dcmqrscp", "QRSCP", {{"PACSPULL", "127.0.0.1", receiver_port_of(f.config_path())}});
  qr.upload(f.dir() / "day" / "initial");
  qr.upload(f.dir() / "day" / "late");
  add_pacs(f.config_path(), "  - {name: mirror, ae_title: QRSCP, host: 127.0.0.1, port: " + std::to_string(qr.port()) + "}");

  long settle = 0;
  for (const auto& s : f.manifest()["studies"])
    if (s["expected"]["state"] != "not_pulled") ++settle;
  // Orthanc goes away after the finder has seen and queued every study there, before the
  // mover starts: every move must fail over (deterministic; with Orthanc stopped "after a few
  // moves" a fast machine had moved all 21 before the stop and nothing failed over).
  for (const auto& s : PipelineFixture::services())
    if (s != "mover") f.start(s);
  REQUIRE(f.wait_count("SELECT count(*) FROM studies WHERE generation >= 1", settle, 180));
  f.pacs().stop();
  f.start("mover");
  const long done_before = f.count("SELECT count(*) FROM move_jobs WHERE status = 'done'");

  const bool settled =
      f.wait_count("SELECT count(*) FROM studies WHERE state IN ('completed', 'unsupported', 'failed')", settle, 400);
  if (!settled)
    for (const auto& s : PipelineFixture::services()) UNSCOPED_INFO(s << " log:\n" << f.service_log(s));
  CHECK(settled);
  INFO("moves done before Orthanc stopped: " << done_before);
  // The mover did fail over: jobs retrieved from the mirror, recorded in the ledger.
  CHECK(f.count("SELECT count(*) FROM move_jobs WHERE status = 'done' AND retrieved_from = 'mirror'") > 0);
  CHECK(f.count("SELECT count(*) FROM events WHERE service = 'mover' AND detail LIKE '%failover from testpacs%'") > 0);
  CHECK(f.count("SELECT count(*) FROM studies WHERE state = 'failed'") == 0);

  check_exact_set(f);
}

TEST_CASE("retrieve: get pulls the day by C-GET; checker, filter and dispatcher see no difference", "[e2e][cget]") {
  PipelineFixture f("cget");
  f.upload_part("initial");
  f.upload_part("late");
  // The PACS does not know our receiver at all: only C-GET can work.
  std::string text = pacspull::testing::read_file(f.config_path());
  const std::regex pacs_line("(  - \\{name: testpacs, [^}]*)\\}");
  REQUIRE(std::regex_search(text, pacs_line));
  text = std::regex_replace(text, pacs_line, "$1, retrieve: get}");
  std::ofstream(f.config_path()) << text;
  f.pacs().rest("DELETE", "/modalities/PACSPULL");

  long settle = 0;
  for (const auto& s : f.manifest()["studies"])
    if (s["expected"]["state"] != "not_pulled") ++settle;
  f.start_all();
  const bool settled =
      f.wait_count("SELECT count(*) FROM studies WHERE state IN ('completed', 'unsupported', 'failed')", settle, 400);
  if (!settled)
    for (const auto& s : PipelineFixture::services()) UNSCOPED_INFO(s << " log:\n" << f.service_log(s));
  CHECK(settled);
  CHECK(f.count("SELECT count(*) FROM move_jobs WHERE status = 'done' AND method = 'get'") > 0);
  CHECK(f.count("SELECT count(*) FROM move_jobs WHERE method = 'move'") == 0);
  CHECK(f.count("SELECT count(*) FROM instances WHERE receiver = 'mover-cget'") > 0);
  CHECK(f.count("SELECT count(*) FROM studies WHERE state = 'failed'") == 0);
  check_exact_set(f);
}

TEST_CASE("A PACS that does not know our AE (0xA801) fails the job at once, shown by why", "[e2e][outcome]") {
  PipelineFixture f("a801");
  f.upload_part("initial");
  DcmQrScpPeer qr(f.dir() / "dcmqrscp", "QRSCP", {});  // no move destinations: A801 for ours
  qr.upload(f.dir() / "day" / "initial");
  std::string text = pacspull::testing::read_file(f.config_path());
  const std::regex pacs_line("  - \\{name: testpacs, [^}]*\\}");
  text = std::regex_replace(text, pacs_line,
                            "  - {name: testpacs, ae_title: QRSCP, host: 127.0.0.1, port: " + std::to_string(qr.port()) + "}");
  std::ofstream(f.config_path()) << text;
  f.start("mover");  // applies the ledger's migrations before it listens
  std::smatch url;
  const std::string site = pacspull::testing::read_file(f.config_path());
  REQUIRE(std::regex_search(site, url, std::regex("ledger: \\{url: \"([^\"]+)\"")));
  // A queued study and its move job, as the finder would have left them.
  const std::string uid = f.manifest()["studies"][0]["study_instance_uid"];
  {
    pqxx::connection c(url[1].str());
    pqxx::work w(c);
    w.exec_params("INSERT INTO pacs_nodes (name, ae_title, host, port) VALUES ('testpacs', 'QRSCP', '127.0.0.1', $1) "
                  "ON CONFLICT (name) DO UPDATE SET ae_title = excluded.ae_title, host = excluded.host, port = excluded.port",
                  static_cast<int>(qr.port()));
    w.exec_params("INSERT INTO studies (study_uid, state, generation) VALUES ($1, 'queued', 1)", uid);
    w.exec_params("INSERT INTO move_jobs (study_uid, pacs, generation) VALUES ($1, 'testpacs', 1)", uid);
    w.commit();
  }
  REQUIRE(f.wait_count("SELECT count(*) FROM move_jobs WHERE status = 'failed'", 1, 60));
  INFO(f.service_log("mover"));
  CHECK(f.query("SELECT attempts FROM move_jobs") == "1");  // not retried with backoff
  CHECK(f.query("SELECT outcome FROM move_jobs") == "destination-unknown");
  CHECK(f.query("SELECT outcome_kind FROM move_jobs") == "permanent");
  CHECK(f.query("SELECT state FROM studies WHERE study_uid = '" + uid + "'") == "failed");
  const std::string why = f.pullctl({"why", uid});
  INFO(why);
  CHECK(why.find("destination-unknown") != std::string::npos);
  CHECK(why.find("0xA801") != std::string::npos);
}

TEST_CASE("A short study is re-pulled instance by instance: exactly the missing SOP instances move", "[e2e][repull]") {
  PipelineFixture f("repull");
  f.upload_part("initial");
  f.start("receiver");
  f.start("mover");
  std::smatch url;
  const std::string site = pacspull::testing::read_file(f.config_path());
  REQUIRE(std::regex_search(site, url, std::regex("ledger: \\{url: \"([^\"]+)\"")));
  // The study with the most series in the generated day.
  std::string uid;
  size_t most = 0;
  for (const auto& s : f.manifest()["studies"])
    if (s["series"].size() > most) {
      most = s["series"].size();
      uid = s["study_instance_uid"];
    }
  REQUIRE(most >= 2);
  pqxx::connection c(url[1].str());
  {
    pqxx::work w(c);
    w.exec_params("INSERT INTO pacs_nodes (name, ae_title, host, port) VALUES ('testpacs', $1, '127.0.0.1', $2) "
                  "ON CONFLICT (name) DO UPDATE SET ae_title = excluded.ae_title, port = excluded.port",
                  f.pacs().ae_title(), static_cast<int>(f.pacs().dicom_port()));
    w.exec_params("INSERT INTO studies (study_uid, state, generation) VALUES ($1, 'queued', 1)", uid);
    w.exec_params("INSERT INTO move_jobs (study_uid, pacs, generation) VALUES ($1, 'testpacs', 1)", uid);
    w.commit();
  }
  REQUIRE(f.wait_count("SELECT count(*) FROM move_jobs WHERE status = 'done'", 1, 120));
  const long all = f.count("SELECT count(*) FROM instances WHERE study_uid = '" + uid + "'");
  // Lose one whole series and two instances of another.
  long lost = 0;
  {
    pqxx::work w(c);
    pqxx::result series = w.exec_params(
        "SELECT series_uid, count(*) FROM instances WHERE study_uid = $1 GROUP BY 1 ORDER BY 2 DESC", uid);
    REQUIRE(series.size() >= 2);
    REQUIRE(series[0][1].as<long>() >= 3);
    lost += w.exec_params("DELETE FROM instances WHERE series_uid = $1", series[1][0].c_str()).affected_rows();
    lost += w.exec_params("DELETE FROM instances WHERE sop_uid IN (SELECT sop_uid FROM instances WHERE series_uid = $1 "
                          "ORDER BY sop_uid LIMIT 2)",
                          series[0][0].c_str())
                .affected_rows();
    w.exec_params("UPDATE studies SET generation = 2 WHERE study_uid = $1", uid);
    w.exec_params("INSERT INTO move_jobs (study_uid, pacs, generation, reason) VALUES ($1, 'testpacs', 2, 'repull')", uid);
    w.commit();
  }
  REQUIRE(f.wait_count("SELECT count(*) FROM move_jobs WHERE status = 'done'", 2, 120));
  INFO(f.service_log("mover"));
  // Only the missing ones travelled: the PACS counted exactly `lost` sub-operations.
  CHECK(f.count("SELECT completed FROM move_jobs WHERE generation = 2") == lost);
  CHECK(f.count("SELECT count(*) FROM instances WHERE study_uid = '" + uid + "'") == all);
  CHECK(f.service_log("mover").find("re-pull of study " + uid) != std::string::npos);
}
