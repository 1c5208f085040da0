// Several targets (issue 10 parts 2, 4, 5): the generated day goes to two storescp AI
// nodes, one taking CT only (window 2), one taking DX/CR only, de-identified and converted
// to explicit little endian, plus a bus-only target taking everything. Each node must get
// exactly its SOP set, each instance once (the DX node under the UIDs derived for it), and
// the ledger one sent dispatch per study and target. Then a late series: a thinner one
// arriving after the dispatch re-informs the CT target with dispatch version 2, a thicker
// one after that does not; both are told by `pullctl why`.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "pacspull/deid/profile.hpp"
#include "pipeline_fixture.hpp"

namespace fs = std::filesystem;
using namespace pacspull::testing;

namespace {

const char* kKey = "e2e-key";

bool is_dx_family(const std::string& modality) { return modality == "DX" || modality == "CR" || modality == "DR"; }

// The SOP Instance UIDs each family's target must receive (CT: as stored; DX: derived).
std::set<std::string> expected(const PipelineFixture& f, bool dx) {
  std::set<std::string> out;
  for (const auto& s : f.manifest()["studies"]) {
    std::set<std::string> wanted;
    for (const auto& uid : s["expected"]["dispatch"]) wanted.insert(uid.get<std::string>());
    for (const auto& series : s["series"]) {
      if (!wanted.count(series["series_instance_uid"].get<std::string>())) continue;
      if (is_dx_family(series["modality"].get<std::string>()) != dx) continue;
      for (const auto& i : series["instances"]) {
        const std::string sop = i["sop_instance_uid"];
        out.insert(dx ? pacspull::deid::derive_uid(kKey, "dx-ai", sop) : sop);
      }
    }
  }
  return out;
}

void check_node(StoreScpNode& node, const std::set<std::string>& want, const std::string& name) {
  wait_for([&] { return node.sop_instance_uids().size() >= want.size(); }, std::chrono::seconds(30));
  auto list = node.sop_instance_uids();
  std::set<std::string> got(list.begin(), list.end());
  std::vector<std::string> missing, unexpected, twice;
  for (const auto& s : want)
    if (!got.count(s)) missing.push_back(s);
  for (const auto& s : got)
    if (!want.count(s)) unexpected.push_back(s);
  for (const auto& [sop, n] : node.received_counts())
    if (n > 1) twice.push_back(sop);
  INFO(name << ": expected " << want.size() << ", got " << got.size() << ", missing " << missing.size()
            << ", unexpected " << unexpected.size() << (unexpected.empty() ? "" : " e.g. " + unexpected.front())
            << ", received twice " << twice.size());
  CHECK(missing.empty());
  CHECK(unexpected.empty());
  CHECK(twice.empty());
}

fs::path late_series(PipelineFixture& f, const nlohmann::json& study, int src_index, double thickness, int number,
                     std::string& uid) {
  const fs::path out = f.dir() / "late" / std::to_string(number);
  fs::path src;
  const std::string prefix = std::to_string(study["series"][src_index]["series_number"].get<int>()) + "_";
  for (const auto& e : fs::directory_iterator(f.dir() / "day" / "initial" / study["key"].get<std::string>()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) src = e.path();
  REQUIRE(!src.empty());
  const fs::path log = f.dir() / ("late-" + std::to_string(number) + ".log");
  const fs::path script = fs::path(env_or("PACSPULL_SOURCE_DIR", ".")) / "tests" / "e2e" / "make_late_series.py";
  REQUIRE(run_command({"/usr/bin/python3", script.string(), src.string(), out.string(), std::to_string(thickness),
                       std::to_string(number)},
                      std::chrono::seconds(60), log) == 0);
  std::istringstream in(read_file(log));
  std::getline(in, uid);
  return out;
}

}  // namespace

TEST_CASE("Targets: a CT node, a de-identified DX node and a bus target each get their own; late series re-inform only when thinner") {
  PipelineFixture f("targets");
  StoreScpNode ct_ai(f.dir() / "ct-ai", "CTAI"), dx_ai(f.dir() / "dx-ai", "DXAI");
  {  // The fixture's single ai_node becomes three targets.
    std::string cfg = read_file(f.config_path());
    std::ostringstream targets;
    targets << "targets:\n"
            << "  - {name: ct-ai, ae_title: CTAI, host: 127.0.0.1, port: " << ct_ai.port()
            << ", families: [CT], window: 2}\n"
            << "  - {name: dx-ai, ae_title: DXAI, host: 127.0.0.1, port: " << dx_ai.port()
            << ", families: [DX], deidentify: true, retain_dates: true, clean_descriptors: true, deid_key: " << kKey
            << ", transfer_syntax: explicit-little-endian}\n"
            << "  - {name: worklist, kind: bus}\n";
    cfg = std::regex_replace(cfg, std::regex("ai_node: [^\n]*\n"), targets.str());
    std::ofstream(f.config_path()) << cfg;
  }
  f.upload_part("initial");
  f.upload_part("late");
  f.start_all();
  long settled_want = 0;
  for (const auto& s : f.manifest()["studies"])
    if (s["expected"]["state"] != "not_pulled") ++settled_want;
  const bool settled = f.wait_count(
      "SELECT count(*) FROM studies WHERE state IN ('completed', 'unsupported', 'failed')", settled_want, 300);
  if (!settled) UNSCOPED_INFO("dispatcher log:\n" << f.service_log("dispatcher"));
  REQUIRE(settled);

  check_node(ct_ai, expected(f, false), "ct-ai");
  check_node(dx_ai, expected(f, true), "dx-ai");
  // Per study: one sent dispatch per target that takes its family; the bus target all.
  for (const auto& s : f.manifest()["studies"]) {
    if (s["expected"]["state"] != "completed") continue;
    const std::string uid = s["study_instance_uid"];
    bool dx = false;
    for (const auto& series : s["series"]) dx = dx || is_dx_family(series["modality"].get<std::string>());
    INFO(s["key"].get<std::string>());
    CHECK(f.query("SELECT state FROM studies WHERE study_uid = '" + uid + "'") == "completed");
    const std::string where = "FROM dispatches WHERE status = 'sent' AND study_uid = '" + uid + "'";
    CHECK(f.count("SELECT count(*) " + where + " AND target = 'ct-ai'") == (dx ? 0 : 1));
    CHECK(f.count("SELECT count(*) " + where + " AND target = 'dx-ai'") == (dx ? 1 : 0));
    CHECK(f.count("SELECT count(*) " + where + " AND target = 'worklist'") == 1);
    if (dx) {  // the mapping is in the ledger, both ways
      CHECK(f.count("SELECT count(*) FROM deid_map WHERE target = 'dx-ai' AND kind = 'uid' AND original = '" + uid +
                    "' AND deidentified = '" + pacspull::deid::derive_uid(kKey, "dx-ai", uid) + "'") == 1);
      CHECK(f.count("SELECT count(*) FROM deid_map WHERE target = 'dx-ai' AND kind = 'patient' AND study_uid = '" +
                    uid + "'") == 1);
    }
  }
  {  // What the DX node holds is de-identified, in explicit little endian, with its pixels.
    auto files = dx_ai.files();
    REQUIRE_FALSE(files.empty());
    auto attrs = dump_attributes(files.front());
    REQUIRE(attrs);
    CHECK(attrs->at("PatientIdentityRemoved") == "YES");
    CHECK(attrs->at("PatientID").rfind("PP", 0) == 0);
    CHECK(attrs->count("InstitutionName") == 0);
    CHECK(attrs->at("TransferSyntaxUID") == "1.2.840.10008.1.2.1");
    CHECK(attrs->count("PixelData") == 1);
  }
  CHECK(f.count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0);

  // Late series on the chest CT (dispatched: series 3, 1 mm, 40 slices).
  const auto& chest = f.study("e2e01_chest_ct");
  const std::string chest_uid = chest["study_instance_uid"];
  std::string thin_uid, thick_uid;
  f.pacs().upload(late_series(f, chest, 2, 0.5, 4, thin_uid));
  REQUIRE(f.wait_count("SELECT count(*) FROM dispatches WHERE status = 'sent' AND target = 'ct-ai' AND version = 2 "
                       "AND study_uid = '" + chest_uid + "' AND '" + thin_uid + "' = ANY (series_uids)",
                       1, 180));
  CHECK(f.wait_count("SELECT count(*) FROM studies WHERE state = 'completed' AND study_uid = '" + chest_uid + "'", 1, 60));
  wait_for([&] { return ct_ai.files_of_study(chest_uid).size() >= 40 + 80; }, std::chrono::seconds(30));
  CHECK(ct_ai.files_of_study(chest_uid).size() == 40 + 80);
  std::string why = f.pullctl({"why", chest_uid});
  CHECK_THAT(why, Catch::Contains("re-informing because a better series arrived") && Catch::Contains("version 2"));
  {  // pullctl dispatcher list names each dispatch's target and version.
    const auto listed = nlohmann::json::parse(f.pullctl({"-o", "json", "dispatcher", "list", "--study", chest_uid}));
    std::set<std::string> seen;
    for (const auto& d : listed["dispatches"])
      seen.insert(d["target"].get<std::string>() + " v" + std::to_string(d["version"].get<int>()) + " " +
                  d["status"].get<std::string>());
    CHECK(seen.count("ct-ai v1 sent") == 1);
    CHECK(seen.count("ct-ai v2 sent") == 1);
    CHECK(seen.count("worklist v1 sent") == 1);
  }

  const long events_before = f.count("SELECT count(*) FROM events WHERE study_uid = '" + chest_uid +
                                     "' AND kind = 'not-redispatched'");
  f.pacs().upload(late_series(f, chest, 2, 2.0, 5, thick_uid));
  // Either the thicker series is pulled and the dispatcher declines to re-inform, or (the
  // series filter before the move, on by default where the PACS answers series queries well
  // since issue 9 part 3: Orthanc answers the header) the finder leaves it behind, knowing
  // the filter would select the thinner one: then it never travels.
  bool declined = false, left_behind = false;
  const std::string not_re_informing = "SELECT count(*) FROM events WHERE study_uid = '" + chest_uid +
                                       "' AND kind = 'not-redispatched' AND detail LIKE '%ct-ai: not re-informing%'";
  REQUIRE(wait_for(
      [&] {
        declined = f.count(not_re_informing) >= events_before + 1;
        const std::string log = f.service_log("finder");
        left_behind = log.find("series " + thick_uid + " not moved: passes, but the filter will select") !=
                      std::string::npos;
        return declined || left_behind;
      },
      std::chrono::seconds(180), std::chrono::milliseconds(500)));
  CHECK(f.count("SELECT count(*) FROM dispatches WHERE target = 'ct-ai' AND study_uid = '" + chest_uid + "'") == 2);
  if (declined) {
    CHECK(f.count("SELECT count(*) FROM series WHERE series_uid = '" + thick_uid + "'") == 1);  // it was pulled
    why = f.pullctl({"why", chest_uid});
    CHECK_THAT(why, Catch::Contains("not re-informing"));
  } else {
    CHECK(f.count("SELECT count(*) FROM instances WHERE series_uid = '" + thick_uid + "'") == 0);  // never moved
  }
  CHECK(ct_ai.files_of_study(chest_uid).size() == 40 + 80);
}
