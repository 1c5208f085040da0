// Series-level retrieval and the C-GET fallback (issue 9 part 6), the mover against real PACS
// (DCMTK's dcmqrscp, Orthanc), the real receiver, PostgreSQL as the services' own roles:
// - series_move pinned false: a move naming series retrieves the whole study;
// - series_move unknown: a series that delivers teaches yes; every named series refused
//   (Orthanc answers 0xC000 for a series it does not hold: the refusal a PACS without
//   series-level retrieval gives) makes the mover retrieve the whole study in the same attempt
//   and record no, after which the PACS gets whole-study moves at once;
// - retrieve: auto at a PACS that does not know our AE (Orthanc refuses the C-MOVE with
//   0xC000): C-GET when its c_get is true, the refusal with the reason when C-GET is not
//   known to work.
// Each job is written into the ledger as the finder would leave it; the exact SOP set of the
// study must be in the ledger afterwards. And the whole day through the six services with
// series_move pinned no: the finder names series, whole studies arrive, and the checker,
// the filter and the dispatcher still end each study right (the AI node gets exactly the
// expected set, once).
#include <catch2/catch.hpp>

#include <pqxx/pqxx>

#include <fstream>
#include <regex>
#include <set>

#include "dcmqrscp_peer.hpp"
#include "outcome_checks.hpp"
#include "pipeline_fixture.hpp"

using pacspull::testing::DcmQrScpPeer;
using pacspull::testing::PipelineFixture;

namespace {

std::string ledger_url(PipelineFixture& f) {
  std::smatch url;
  const std::string site = pacspull::testing::read_file(f.config_path());
  if (!std::regex_search(site, url, std::regex("ledger: \\{url: \"([^\"]+)\""))) throw std::runtime_error("no ledger url");
  return url[1].str();
}

// Replaces the fixture's one PACS line with `entries` (site file lines of pacs:).
void set_pacs(PipelineFixture& f, const std::string& entries) {
  std::string text = pacspull::testing::read_file(f.config_path());
  const std::regex pacs_line("  - \\{name: testpacs, [^}]*\\}\n");
  REQUIRE(std::regex_search(text, pacs_line));
  text = std::regex_replace(text, pacs_line, entries);
  std::ofstream(f.config_path()) << text;
}

// Studies of the day with all their instances in part "initial", the ones with most series first.
struct Study {
  std::string uid;
  std::vector<std::string> series;
  std::set<std::string> sops;
};
std::vector<Study> studies_by_series(const PipelineFixture& f) {
  std::vector<Study> out;
  for (const auto& s : f.manifest()["studies"]) {
    Study st{s["study_instance_uid"], {}, {}};
    bool initial = true;
    for (const auto& series : s["series"]) {
      st.series.push_back(series["series_instance_uid"]);
      for (const auto& i : series["instances"]) {
        st.sops.insert(i["sop_instance_uid"].get<std::string>());
        if (i.contains("part") && i["part"] != "initial") initial = false;
      }
    }
    if (initial) out.push_back(std::move(st));
  }
  std::stable_sort(out.begin(), out.end(), [](const Study& a, const Study& b) { return a.series.size() > b.series.size(); });
  return out;
}

void add_node(pqxx::work& w, const std::string& name, const std::string& ae, uint16_t port) {
  w.exec_params("INSERT INTO pacs_nodes (name, ae_title, host, port) VALUES ($1, $2, '127.0.0.1', $3) "
                "ON CONFLICT (name) DO UPDATE SET ae_title = excluded.ae_title, port = excluded.port",
                name, ae, static_cast<int>(port));
}

// A queued study and its move job naming `series` (none: the whole study), as the finder leaves them.
void add_job(pqxx::connection& c, const std::string& study, const std::string& pacs, int generation,
             const std::vector<std::string>& series) {
  std::string joined;
  for (const auto& s : series) joined += (joined.empty() ? "" : ",") + s;
  pqxx::work w(c);
  w.exec_params("INSERT INTO studies (study_uid, state, generation) VALUES ($1, 'queued', $2) "
                "ON CONFLICT (study_uid) DO UPDATE SET state = 'queued', generation = excluded.generation",
                study, generation);
  w.exec_params("INSERT INTO move_jobs (study_uid, pacs, generation, series_uids) "
                "VALUES ($1, $2, $3, coalesce(string_to_array(NULLIF($4, ''), ','), '{}'))",
                study, pacs, generation, joined);
  w.commit();
}

std::set<std::string> held(pqxx::connection& c, const std::string& study) {
  pqxx::read_transaction t(c);
  std::set<std::string> out;
  for (const auto& row : t.exec_params("SELECT sop_uid FROM instances WHERE study_uid = $1", study))
    out.insert(row[0].c_str());
  return out;
}

// The job of `study` reached `status` (the mover's log is shown when it did not).
bool wait_job(PipelineFixture& f, const std::string& study, int generation, const std::string& status) {
  const bool reached = f.wait_count("SELECT count(*) FROM move_jobs WHERE study_uid = '" + study +
                                        "' AND generation = " + std::to_string(generation) + " AND status = '" +
                                        status + "'",
                                    1, 90);
  if (!reached)
    UNSCOPED_INFO("job: " << f.query("SELECT status || ' ' || attempts || ' ' || last_error FROM move_jobs WHERE "
                                     "study_uid = '" + study + "'")
                          << "\nmover log:\n" << f.service_log("mover"));
  return reached;
}

}  // namespace

TEST_CASE("series_move pinned false (dcmqrscp): a move naming one series retrieves the whole study",
          "[e2e][series-move]") {
  PipelineFixture f("series-pinned");
  DcmQrScpPeer qr(f.dir() / "dcmqrscp", "QRSCP", {{"PACSPULL", "127.0.0.1", f.receiver_port()}});
  qr.upload(f.dir() / "day" / "initial");
  set_pacs(f, "  - {name: testpacs, ae_title: QRSCP, host: 127.0.0.1, port: " + std::to_string(qr.port()) +
                  ", capabilities: {series_move: false}}\n");
  f.start("receiver");
  f.start("mover");
  const auto studies = studies_by_series(f);
  REQUIRE(!studies.empty());
  const Study& s = studies.front();
  REQUIRE(s.series.size() >= 2);
  pqxx::connection c(ledger_url(f));
  {
    pqxx::work w(c);
    add_node(w, "testpacs", "QRSCP", qr.port());
    w.commit();
  }
  add_job(c, s.uid, "testpacs", 1, {s.series.front()});
  REQUIRE(wait_job(f, s.uid, 1, "done"));
  INFO(f.service_log("mover"));
  // The exact SOP set of the study, every series, not only the one named.
  CHECK(held(c, s.uid) == s.sops);
  CHECK(f.count("SELECT completed FROM move_jobs WHERE study_uid = '" + s.uid + "'") ==
        static_cast<long>(s.sops.size()));
  CHECK(f.service_log("mover").find("does not retrieve at series level (series_move: no)") != std::string::npos);
  // A pin is not learned over: no row written by the mover.
  CHECK(f.count("SELECT count(*) FROM pacs_capabilities WHERE 'series_move' = ANY(learned)") == 0);
}

TEST_CASE("series_move unknown (Orthanc): a delivered series teaches yes; every named series refused teaches no "
          "and the whole study comes in the same attempt",
          "[e2e][series-move]") {
  PipelineFixture f("series-learn");
  f.upload_part("initial");
  // Two names for the one Orthanc: each learns for itself.
  const std::string port = std::to_string(f.pacs().dicom_port());
  const std::string ae = f.pacs().ae_title();
  set_pacs(f, "  - {name: good, ae_title: " + ae + ", host: 127.0.0.1, port: " + port + "}\n" +
                  "  - {name: refusing, ae_title: " + ae + ", host: 127.0.0.1, port: " + port + "}\n");
  f.start("receiver");
  f.start("mover");
  const auto studies = studies_by_series(f);
  REQUIRE(studies.size() >= 3);
  pqxx::connection c(ledger_url(f));
  {
    pqxx::work w(c);
    add_node(w, "good", ae, f.pacs().dicom_port());
    add_node(w, "refusing", ae, f.pacs().dicom_port());
    w.commit();
  }

  // 1. A series that delivers: series_move yes for `good`, only that series moved.
  const Study& a = studies[0];
  REQUIRE(a.series.size() >= 2);
  add_job(c, a.uid, "good", 1, {a.series.front()});
  REQUIRE(wait_job(f, a.uid, 1, "done"));
  CHECK(f.query("SELECT series_move::text FROM pacs_capabilities WHERE pacs = 'good'") == "true");
  CHECK(f.count("SELECT count(*) FROM instances WHERE study_uid = '" + a.uid + "' AND series_uid <> '" +
                a.series.front() + "'") == 0);

  // 2. Every series named refused (0xC000): the whole study in the same attempt, series_move
  // no for `refusing`, a warning, an event on the study.
  const Study& b = studies[1];
  add_job(c, b.uid, "refusing", 1, {b.uid + ".901", b.uid + ".902"});
  REQUIRE(wait_job(f, b.uid, 1, "done"));
  const std::string log = f.service_log("mover");
  INFO(log);
  CHECK(held(c, b.uid) == b.sops);
  CHECK(f.query("SELECT attempts FROM move_jobs WHERE study_uid = '" + b.uid + "'") == "1");
  CHECK(f.query("SELECT series_move::text FROM pacs_capabilities WHERE pacs = 'refusing'") == "false");
  CHECK(f.count("SELECT count(*) FROM pacs_capabilities WHERE pacs = 'refusing' AND 'series_move' = ANY(learned)") == 1);
  CHECK(log.find("every one of the 2 series named was refused (0xC000); retrieving the whole study") != std::string::npos);
  CHECK(f.count("SELECT count(*) FROM events WHERE study_uid = '" + b.uid +
                "' AND kind = 'capability-learned' AND detail LIKE '%series_move: no%'") == 1);
  // `good` kept its own verdict.
  CHECK(f.query("SELECT series_move::text FROM pacs_capabilities WHERE pacs = 'good'") == "true");

  // 3. From now on `refusing` gets the whole study at once, without asking series.
  const Study& d = studies[2];
  add_job(c, d.uid, "refusing", 1, {d.series.front()});
  REQUIRE(wait_job(f, d.uid, 1, "done"));
  CHECK(held(c, d.uid) == d.sops);
  CHECK(f.service_log("mover").find("study " + d.uid + ": PACS refusing does not retrieve at series level") !=
        std::string::npos);

  // pullctl pacs probe says where the value came from; the probe's save keeps it.
  const std::string probe = f.pullctl({"pacs", "probe", "refusing"});
  INFO(probe);
  CHECK(probe.find("series-level C-MOVE: no (learned by the mover)") != std::string::npos);
  CHECK(f.query("SELECT series_move::text FROM pacs_capabilities WHERE pacs = 'refusing'") == "false");
}

TEST_CASE("retrieve: auto at a PACS that does not know our AE: C-GET when its C-GET works",
          "[e2e][series-move][cget]") {
  PipelineFixture f("retrieve-auto");
  f.upload_part("initial");
  // Our receiver is not registered: Orthanc refuses the C-MOVE (with 0xC000; dcmqrscp says
  // 0xA801) before sending anything.
  f.pacs().rest("DELETE", "/modalities/PACSPULL");
  const std::string port = std::to_string(f.pacs().dicom_port());
  const std::string ae = f.pacs().ae_title();
  set_pacs(f, "  - {name: testpacs, ae_title: " + ae + ", host: 127.0.0.1, port: " + port + ", retrieve: auto}\n" +
                  "  - {name: other, ae_title: " + ae + ", host: 127.0.0.1, port: " + port + ", retrieve: auto}\n");
  f.start("mover");  // C-GET needs no receiver
  const auto studies = studies_by_series(f);
  REQUIRE(studies.size() >= 2);
  pqxx::connection c(ledger_url(f));
  {
    pqxx::work w(c);
    add_node(w, "testpacs", ae, f.pacs().dicom_port());
    add_node(w, "other", ae, f.pacs().dicom_port());
    w.commit();
  }
  // C-GET not known to work (nothing probed): the refusal stands, retried, then failed (each
  // attempt fails over to `other`, the same Orthanc), and the error says why no C-GET.
  const Study& b = studies[1];
  add_job(c, b.uid, "testpacs", 1, {});
  REQUIRE(wait_job(f, b.uid, 1, "failed"));
  CHECK(f.query("SELECT outcome FROM move_jobs WHERE study_uid = '" + b.uid + "'") == "unable-to-process");
  CHECK_THAT(f.query("SELECT last_error FROM move_jobs WHERE study_uid = '" + b.uid + "'"),
             Catch::Contains("C-GET is not known to work"));
  CHECK(held(c, b.uid).empty());

  // What the finder's probe records for a PACS whose C-GET works.
  {
    pqxx::work w(c);
    w.exec("INSERT INTO pacs_capabilities (pacs, c_get) VALUES ('testpacs', true)");
    w.commit();
  }
  const Study& a = studies[0];
  add_job(c, a.uid, "testpacs", 1, {});
  REQUIRE(wait_job(f, a.uid, 1, "done"));
  const std::string log = f.service_log("mover");
  INFO(log);
  CHECK(held(c, a.uid) == a.sops);
  CHECK(f.query("SELECT method FROM move_jobs WHERE study_uid = '" + a.uid + "'") == "get");
  CHECK(f.query("SELECT attempts FROM move_jobs WHERE study_uid = '" + a.uid + "'") == "1");
  CHECK(f.query("SELECT retrieved_from FROM move_jobs WHERE study_uid = '" + a.uid + "'") == "testpacs");
  CHECK(f.count("SELECT count(*) FROM instances WHERE study_uid = '" + a.uid + "' AND receiver = 'mover-cget'") ==
        static_cast<long>(a.sops.size()));
  CHECK(log.find("PACS testpacs: the PACS refused the C-MOVE before sending anything (0xC000") != std::string::npos);
  CHECK(log.find("and does C-GET: retrieving by C-GET") != std::string::npos);
}

TEST_CASE("A day with series_move pinned no: moves naming series bring whole studies, the AI node still gets "
          "exactly the expected set once",
          "[e2e][series-move][day]") {
  PipelineFixture f("series-day");
  f.upload_part("initial");
  f.upload_part("late");
  std::string text = pacspull::testing::read_file(f.config_path());
  const std::regex pacs_line("(  - \\{name: testpacs, [^}]*)\\}");
  REQUIRE(std::regex_search(text, pacs_line));
  text = std::regex_replace(text, pacs_line, "$1, capabilities: {series_move: false}}");
  std::ofstream(f.config_path()) << text;
  f.start_all();
  const bool settled = pacspull::testing::wait_all_settled(f, 300);
  if (!settled) UNSCOPED_INFO("mover log:\n" << f.service_log("mover"));
  REQUIRE(settled);

  // The AI node: exactly the expected SOP instances, each by one C-STORE.
  const std::set<std::string> want = f.expected_sops();
  pacspull::testing::wait_for([&] { return f.ai().sop_instance_uids().size() >= want.size(); },
                              std::chrono::seconds(30));
  const auto got_list = f.ai().sop_instance_uids();
  const std::set<std::string> got(got_list.begin(), got_list.end());
  long stores = 0;
  for (const auto& [sop, n] : f.ai().received_counts()) stores += n;
  CHECK(got == want);
  CHECK(stores == static_cast<long>(want.size()));

  // Each study in its expected state, dispatched once when completed; a study whose move named
  // series (the finder's series filter on Orthanc) holds the whole study all the same.
  long named = 0;
  for (const auto& s : f.manifest()["studies"]) {
    const std::string uid = s["study_instance_uid"];
    const std::string expected_state = s["expected"]["state"];
    if (expected_state == "not_pulled") continue;
    INFO("study " << s["key"].get<std::string>() << ": " << s["expected"]["why"].get<std::string>());
    CHECK(f.query("SELECT state FROM studies WHERE study_uid = '" + uid + "'") == expected_state);
    CHECK(f.count("SELECT count(*) FROM dispatches WHERE status = 'sent' AND study_uid = '" + uid + "'") ==
          (expected_state == "completed" ? 1 : 0));
    if (f.count("SELECT count(*) FROM move_jobs WHERE study_uid = '" + uid + "' AND cardinality(series_uids) > 0") ==
        0)
      continue;
    ++named;
    CHECK(f.count("SELECT count(*) FROM instances WHERE study_uid = '" + uid + "'") ==
          s["instance_count"].get<long>());
  }
  INFO("mover log:\n" << f.service_log("mover"));
  CHECK(named > 0);  // the finder did name series: the whole-study path was taken
  CHECK(f.count("SELECT count(*) FROM pacs_capabilities WHERE 'series_move' = ANY(learned)") == 0);
}
