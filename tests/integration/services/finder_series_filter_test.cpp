// The real finder's series-level filtering before the move (issue 9 part 3: bytes pulled
// over bytes dispatched) against real PACS holding the generated day: Orthanc (answers the
// image header, ImageType and SliceThickness, at series level) and DCMTK's dcmqrscp
// (Modality only; counts from the image-level SOP list; C-GET works, so the finder samples
// one instance header per CT series, never stored). For every study the day expects to
// compute, every series the filter will hand on is in the move request (or the study moves
// whole); the scouts never move; on both, the thicker passing series and the series whose
// empty SliceThickness implies 30 mm stay behind too, and the head CT and the 3D
// reconstruction are settled unsupported without a move. The probe says C-GET works on
// both. Real PostgreSQL and nats-server from tests/run.sh.
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>

#include "dcmqrscp_peer.hpp"
#include "orthanc.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "service_tests.hpp"
#include "test_db.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

namespace {

// study uid -> (requested: the move was queued, series named in it; empty = whole study)
struct Request {
  bool queued = false;  // queued, or settled by the finder
  std::string state;
  std::set<std::string> series;
};

std::map<std::string, Request> requests(const std::string& url) {
  pqxx::connection c(url);
  pqxx::read_transaction t(c);
  std::map<std::string, Request> out;
  for (const auto& r : t.exec("SELECT study_uid, state, move_series FROM studies")) {
    Request q;
    q.state = r[1].c_str();
    q.queued = q.state != "found";
    if (!r[2].is_null()) {
      auto a = r[2].as_array();
      for (auto e = a.get_next(); e.first != pqxx::array_parser::juncture::done; e = a.get_next())
        if (e.first == pqxx::array_parser::juncture::string_value) q.series.insert(e.second);
    }
    out[r[0].c_str()] = q;
  }
  return out;
}

// The finder's events, per study ("kind: detail" lines).
std::map<std::string, std::string> finder_events(const std::string& url) {
  pqxx::connection c(url);
  pqxx::read_transaction t(c);
  std::map<std::string, std::string> out;
  for (const auto& r : t.exec("SELECT study_uid, kind, detail FROM events WHERE service = 'finder' ORDER BY id"))
    out[r[0].c_str()] += std::string(r[1].c_str()) + ": " + r[2].c_str() + "\n";
  return out;
}

// The probe's C-GET verdict stored for the PACS: "yes", "no" or "unknown".
std::string probed_c_get(const std::string& url) {
  pqxx::connection c(url);
  pqxx::read_transaction t(c);
  auto r = t.exec("SELECT c_get FROM pacs_capabilities");
  if (r.size() != 1) return "no row";
  return r[0][0].is_null() ? "unknown" : r[0][0].as<bool>() ? "yes" : "no";
}

// Runs the finder against one PACS until every candidate study of the day is queued;
// returns the requests and the finder's log text.
std::map<std::string, Request> run_finder(const fs::path& dir, const std::string& ae, uint16_t port,
                                          const nlohmann::json& manifest, std::string& log_text,
                                          std::map<std::string, std::string>& events, std::string& c_get,
                                          const std::string& finder_options = "") {
  std::set<std::string> candidates;
  for (const auto& s : manifest["studies"])
    if (s["expected"]["state"] != "not_pulled") candidates.insert(s["study_instance_uid"].get<std::string>());
  TestDatabase db;
  fs::path config = dir / "site.yaml";
  std::ofstream(config) << "site: series-filter\n"
                        << "ledger: {url: \"" << db.url() << "\"}\n"
                        << "bus: {url: \"" << env_or("PACSPULL_TEST_NATS_URL", "nats://127.0.0.1:4222") << "\"}\n"
                        << "local: {storage_root: " << (dir / "store").string() << ", connect_timeout: 5s}\n"
                        << "pacs:\n  - {name: pacs, ae_title: " << ae << ", host: 127.0.0.1, port: " << port << "}\n"
                        << "ai_node: {ae_title: AI, host: 127.0.0.1, port: 2}\n"
                        // finder.series_filter left at its default (auto).
                        << "finder: {" << finder_options << "poll_interval: 1s, crossday: -1, stable_polls: 2, "
                        << "stable_min_age: 1s, grpc_port: " << free_tcp_port()
                        << ", metrics_port: " << free_tcp_port() << "}\n";
  fs::path log = dir / "finder.log";
  auto finder = ChildProcess::spawn({bin("pacspull-finder").string(), "--config", config.string()}, {}, log);
  std::map<std::string, Request> got;
  bool all = wait_for(
      [&] {
        try {
          got = requests(db.url());
        } catch (const std::exception&) {
          return false;  // not migrated yet
        }
        for (const auto& uid : candidates)
          if (!got.count(uid) || !got[uid].queued) return false;
        return true;
      },
      std::chrono::seconds(150), std::chrono::milliseconds(250));
  finder.signal(SIGTERM);
  finder.wait(std::chrono::seconds(30));
  events = finder_events(db.url());
  c_get = probed_c_get(db.url());
  log_text = read_file(log);
  INFO(log_tail(log, 6000));
  REQUIRE(all);
  return got;
}

bool moves(const Request& r, const std::string& series) { return r.series.empty() || r.series.count(series) > 0; }

// Every series the filter will hand on moves; returns the studies that break it.
std::string lost_series(const nlohmann::json& manifest, std::map<std::string, Request>& got) {
  std::string lost;
  for (const auto& s : manifest["studies"]) {
    if (s["expected"]["state"] == "not_pulled") continue;
    const Request& r = got[s["study_instance_uid"].get<std::string>()];
    for (const auto& d : s["expected"]["dispatch"])
      if (!moves(r, d.get<std::string>())) lost += " " + s["key"].get<std::string>();
  }
  return lost;
}

const nlohmann::json& study(const nlohmann::json& manifest, const std::string& key) {
  for (const auto& s : manifest["studies"])
    if (s["key"] == key) return s;
  throw std::runtime_error("no study " + key);
}

std::string series_uid(const nlohmann::json& s, size_t i) { return s["series"][i]["series_instance_uid"]; }

// The generated day in a temp directory (removed at the end unless PACSPULL_KEEP_TEST_DIRS),
// and what the finder made of it.
struct Day {
  fs::path dir;
  nlohmann::json manifest;
  std::string log, c_get;
  std::map<std::string, std::string> events;
  std::map<std::string, Request> got;
  explicit Day(const std::string& name) : dir(make_temp_dir(name)) {
    std::ifstream(run_gen_day(dir / "day", GenDayOptions{})) >> manifest;
  }
  ~Day() {
    std::error_code ec;
    if (env_or("PACSPULL_KEEP_TEST_DIRS", "").empty()) fs::remove_all(dir, ec);
  }
  template <class Pacs>
  void load(Pacs& pacs) {
    pacs.upload(dir / "day" / "initial");
    pacs.upload(dir / "day" / "late");
  }
  void find(const std::string& ae, uint16_t port, const std::string& finder_extra = "") {
    got = run_finder(dir, ae, port, manifest, log, events, c_get, finder_extra);
  }
};

// The choice the filter's own rules make when every CT series' header is known (Orthanc
// answers it; dcmqrscp's is sampled): nothing the day dispatches is left behind; e2e01 moves
// only its 1 mm series, e2e19 only its 4 mm one; the DX study moves whole; the head CT and
// the 3D reconstruction are settled unsupported by the finder, never moved (no 'stable'
// event); every study the day completes is queued.
void check_chosen_on_headers(Day& d) {
  const std::string lost = lost_series(d.manifest, d.got);
  INFO("studies whose dispatched series would not move:" << lost);
  CHECK(lost.empty());
  // e2e01: topogram (LOCALIZER, 2 images) and the 5 mm series stay; the 1 mm series moves.
  const auto& chest = study(d.manifest, "e2e01_chest_ct");
  CHECK(d.got[chest["study_instance_uid"].get<std::string>()].series == std::set<std::string>{series_uid(chest, 2)});
  // e2e19: SliceThickness 0 (75 images: 4 mm) moves; 5 mm and empty/10 images (30 mm) stay.
  const auto& lies = study(d.manifest, "e2e19_thickness_lies");
  CHECK(d.got[lies["study_instance_uid"].get<std::string>()].series == std::set<std::string>{series_uid(lies, 1)});
  CHECK(d.got[study(d.manifest, "e2e03_chest_dx")["study_instance_uid"].get<std::string>()].series.empty());
  const std::string head = study(d.manifest, "e2e02_head_ct")["study_instance_uid"];
  INFO("head CT, finder events:\n" << d.events[head]);
  CHECK(d.got[head].state == "unsupported");
  CHECK_THAT(d.events[head], Catch::Contains("series-filtered: filter because BodyPartExamined HEAD") &&
                                 Catch::Contains("unsupported: ") && Catch::Contains("no series can pass"));
  CHECK(("\n" + d.events[head]).find("\nstable: ") == std::string::npos);
  const std::string recon = study(d.manifest, "e2e21_shared_accession_3d")["study_instance_uid"];
  INFO("3D reconstruction, finder events:\n" << d.events[recon]);
  CHECK(d.got[recon].state == "unsupported");
  CHECK_THAT(d.events[recon], Catch::Contains("series-filtered: ") && Catch::Contains("ImageType"));
  CHECK(("\n" + d.events[recon]).find("\nstable: ") == std::string::npos);
  for (const auto& s : d.manifest["studies"])
    if (s["expected"]["state"] == "completed")
      CHECK(d.got[s["study_instance_uid"].get<std::string>()].state == "queued");
}

}  // namespace

TEST_CASE("Orthanc answers the image header: scouts, a 30 mm series and thicker passing series stay behind") {
  Day d("pacspull-series-filter");
  OrthancPacs pacs(d.dir / "pacs", "HDRPACS", {});
  d.load(pacs);
  d.find("HDRPACS", pacs.dicom_port());
  // Defaults: Orthanc answers series queries well, so auto filters series before the move.
  CHECK_THAT(d.log, Catch::Contains("series filtered before the move"));
  // The probe C-GETs one instance: Orthanc sends it. It answers the header itself: no sample.
  CHECK(d.c_get == "yes");
  CHECK(d.log.find("sampled the header") == std::string::npos);
  // The header came at series level: no image-level C-FIND was needed for it.
  CHECK(d.log.find("image-level C-FIND of one instance") == std::string::npos);
  CHECK_THAT(d.log, Catch::Contains("not moved: filter because SliceThickness empty not believed"));
  check_chosen_on_headers(d);
}

TEST_CASE("dcmqrscp answers no header: one sampled header per CT series judges it as on Orthanc") {
  Day d("pacspull-series-filter-qr");
  {
    DcmQrScpPeer pacs(d.dir / "dcmqrscp", "QRSCP", {});  // no C-MOVE destination: nothing is moved here
    d.load(pacs);
    d.find(pacs.ae_title(), pacs.port());
    pacs.stop();
  }
  // The probe's C-GET of one instance arrived (the peer has a role-selection profile).
  CHECK(d.c_get == "yes");
  // Headers were sampled (finder.sample_headers at its default, auto), never stored.
  CHECK_THAT(d.log, Catch::Contains("sampled the header of series"));
  std::error_code ec;
  size_t stored = 0;
  if (fs::exists(d.dir / "store"))
    for (auto it = fs::recursive_directory_iterator(d.dir / "store", ec); it != fs::recursive_directory_iterator(); ++it)
      if (it->is_regular_file()) ++stored;
  CHECK(stored == 0);
  check_chosen_on_headers(d);
}

TEST_CASE("dcmqrscp with finder.sample_headers off: every CT series that may be handed on moves whole") {
  Day d("pacspull-series-filter-qr-off");
  {
    DcmQrScpPeer pacs(d.dir / "dcmqrscp", "QRSCP", {});
    d.load(pacs);
    d.find(pacs.ae_title(), pacs.port(), "sample_headers: off, ");
    pacs.stop();
  }
  CHECK(d.log.find("sampled the header") == std::string::npos);
  const std::string lost = lost_series(d.manifest, d.got);
  INFO("studies whose dispatched series would not move:" << lost);
  CHECK(lost.empty());
  const auto& chest = study(d.manifest, "e2e01_chest_ct");
  const Request& c = d.got[chest["study_instance_uid"].get<std::string>()];
  CHECK_FALSE(moves(c, series_uid(chest, 0)));  // the 2-image scout
  CHECK(moves(c, series_uid(chest, 1)));         // 5 mm: its header is unseen, it may be the thinnest
  // No BodyPartExamined or header: the head CT and the 3D reconstruction move whole.
  for (const char* key : {"e2e02_head_ct", "e2e21_shared_accession_3d"}) {
    const std::string uid = study(d.manifest, key)["study_instance_uid"];
    INFO(key << ", finder events:\n" << d.events[uid]);
    CHECK(d.got[uid].state == "queued");
    CHECK(d.got[uid].series.empty());
  }
}
