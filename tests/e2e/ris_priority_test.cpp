// An urgent RIS order jumps the queue, end to end (issue 9 part 9). A real RIS (DCMTK's
// wlmscpfs) holds one order per chest CT of the generated day: routine ones, and for one
// study late in the day (e2e19, 97 images) an order with two procedure steps, a routine
// abdomen step and a STAT chest step. The finder alone finds and queues the whole day
// first, so every move request is waiting (a backlog) when the mover starts; then the other
// five services start. The merged order is urgent and names the chest, so the STAT study
// is moved before every routine study still waiting when it was queued (event ids in the
// ledger: one executor, mover.max_parallel_moves 1) and sent to the AI node before them
// (dispatches.sent_at: one study in flight); the AI node gets exactly the expected SOP
// instances; `pullctl why` shows the order and what the RIS rule decided.
#include <catch2/catch.hpp>

#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "outcome_checks.hpp"
#include "pipeline_fixture.hpp"
#include "worklist_ris.hpp"

using namespace pacspull::testing;

namespace {

constexpr const char* kStatKey = "e2e19_thickness_lies";

bool plain_ascii(const std::string& s, const std::regex& re) { return std::regex_match(s, re); }

// The id of a study's first event of `kind` (events.id: insert order), 0 when none.
long event_id(PipelineFixture& f, const std::string& uid, const std::string& kind) {
  return f.count("SELECT coalesce(min(id), 0) FROM events WHERE study_uid = '" + uid + "' AND kind = '" + kind + "'");
}

}  // namespace

TEST_CASE("An urgent RIS order (two steps merged) is moved and dispatched before the routine backlog",
          "[e2e][ris]") {
  WorklistRis ris(make_temp_dir("pacspull-e2e-ris"), "RIS");
  ris.start();
  PipelineFixture::Options options;
  options.site_tail = "ris: {name: hospital-ris, ae_title: RIS, host: 127.0.0.1, port: " + std::to_string(ris.port()) +
                      ", poll_interval: 1s, window_days: 1, timeout: 5s}\n";
  PipelineFixture f("e2e-ris", options);

  const auto& stat = f.study(kStatKey);
  const std::string stat_uid = stat["study_instance_uid"].get<std::string>();
  const std::string stat_accession = stat["accession_number"].get<std::string>();
  REQUIRE(stat["expected"]["state"] == "completed");

  // Orders: the STAT study's two steps, and one routine chest order per other chest CT of
  // the day whose accession and patient id are plain ASCII (the worklist files carry them).
  const std::regex ascii_id("[A-Za-z0-9-]+");
  WorklistEntry abdomen;
  abdomen.accession = stat_accession;
  abdomen.patient_id = stat["patient_id"].get<std::string>();
  abdomen.procedure_description = "CT CHEST AND ABDOMEN";
  abdomen.step_description = "CT ABDOMEN";
  abdomen.date = stat["study_date"].get<std::string>();
  abdomen.priority = "ROUTINE";
  abdomen.step_id = "SPS1";
  WorklistEntry chest = abdomen;
  chest.step_description = "CT CHEST";
  chest.priority = "STAT";
  chest.step_id = "SPS2";
  ris.add(abdomen);
  ris.add(chest);
  std::set<std::string> routine;  // study UIDs with a routine order
  std::map<std::string, std::string> key_of;
  for (const auto& s : f.manifest()["studies"]) {
    key_of[s["study_instance_uid"].get<std::string>()] = s["key"].get<std::string>();
    const std::string accession = s["accession_number"].get<std::string>(), patient = s["patient_id"].get<std::string>();
    bool ct = false;
    for (const auto& m : s["modalities_in_study"]) ct = ct || m == "CT";
    if (s["key"] == kStatKey || !ct || s["expected"]["state"] != "completed" || !plain_ascii(accession, ascii_id) ||
        !plain_ascii(patient, ascii_id) || accession.rfind("ACC-SHARED", 0) == 0 || s["key"] == "e2e22_accession_mismatch")
      continue;
    WorklistEntry order;
    order.accession = accession;
    order.patient_id = patient;
    order.procedure_description = "CT CHEST";
    order.date = s["study_date"].get<std::string>();
    ris.add(order);
    routine.insert(s["study_instance_uid"].get<std::string>());
  }
  REQUIRE(routine.size() >= 5);

  // The whole day at the PACS, then the finder alone: every study found and queued (the
  // STAT one urgent), every move request waiting on the bus.
  f.upload_part("initial");
  f.upload_part("late");
  f.start("finder");
  INFO(f.service_log("finder"));
  REQUIRE(f.wait_count("SELECT count(*) FROM ris_orders WHERE accession = '" + stat_accession +
                           "' AND priority = 'STAT' AND steps = 2",
                       1, 60));
  // Queued, or settled unsupported by the finder itself without a move (only the finder runs:
  // on Orthanc the series filter judges the head CT and the 3D reconstruction before the move).
  REQUIRE(f.wait_count("SELECT count(*) FROM studies WHERE state IN ('queued', 'unsupported')", f.expected_settled(),
                       90));
  for (const auto& uid : routine) CHECK(f.query("SELECT state FROM studies WHERE study_uid = '" + uid + "'") == "queued");
  CHECK(f.count("SELECT priority FROM studies WHERE study_uid = '" + stat_uid + "'") == 2);
  for (const auto& uid : routine) CHECK(f.count("SELECT priority FROM studies WHERE study_uid = '" + uid + "'") == 1);
  const std::string merged = f.query("SELECT body_parts FROM ris_orders WHERE accession = '" + stat_accession + "'");
  CHECK_THAT(merged, Catch::Contains("CT CHEST") && Catch::Contains("CT ABDOMEN"));

  for (const char* s : {"receiver", "filter", "checker", "dispatcher", "mover"}) f.start(s);
  const bool settled = wait_all_settled(f, 110);
  INFO(f.service_log("mover"));
  REQUIRE(settled);
  CHECK(f.query("SELECT state FROM studies WHERE study_uid = '" + stat_uid + "'") == "completed");

  // Moves: one executor, so the order of the "moved" events is the order of the moves.
  const long stat_queued = event_id(f, stat_uid, "move-queued"), stat_moved = event_id(f, stat_uid, "moved");
  REQUIRE(stat_queued > 0);
  REQUIRE(stat_moved > stat_queued);
  std::vector<std::string> after, in_flight, before;
  for (const auto& uid : routine) {
    const long moved = event_id(f, uid, "moved");
    REQUIRE(moved > 0);
    if (moved < stat_queued) before.push_back(key_of[uid]);          // done before the STAT order was queued
    else if (moved < stat_moved) in_flight.push_back(key_of[uid]);   // the move running when it was queued
    else after.push_back(key_of[uid]);                              // the backlog it jumped
  }
  INFO("routine moved before the STAT study was queued: " << before.size() << ", in flight then: " << in_flight.size()
                                                          << ", after it: " << after.size());
  CHECK(in_flight.size() <= 1);  // only a move already running may finish between its queueing and its move
  CHECK(after.size() >= 3);      // a real backlog was jumped (the day's routine chest CTs, earlier exam times)

  // Dispatch: one study in flight to the AI node (window 1), taken by priority then exam
  // time. A routine study moved just after the STAT one may still reach the dispatcher first
  // (the checker's stable age and the filter come between); every routine study queued at the
  // dispatcher after the STAT one (dispatches.id) is sent after it, though its exam is earlier.
  auto dispatch_of = [&](const std::string& uid, const std::string& column) {
    return f.query("SELECT " + column + " FROM dispatches WHERE study_uid = '" + uid +
                   "' AND target = 'ai_node' AND status = 'sent' ORDER BY id LIMIT 1");
  };
  const std::string stat_sent = dispatch_of(stat_uid, "to_char(sent_at, 'YYYY-MM-DD HH24:MI:SS.US')");
  const long stat_dispatch = std::stol(dispatch_of(stat_uid, "id").empty() ? "0" : dispatch_of(stat_uid, "id"));
  REQUIRE_FALSE(stat_sent.empty());
  CHECK(dispatch_of(stat_uid, "priority") == "2");
  int queued_behind = 0, moved_after_sent_after = 0;
  for (const auto& uid : routine) {
    const std::string sent = dispatch_of(uid, "to_char(sent_at, 'YYYY-MM-DD HH24:MI:SS.US')");
    REQUIRE_FALSE(sent.empty());
    if (event_id(f, uid, "moved") > stat_moved && stat_sent < sent) ++moved_after_sent_after;
    if (std::stol(dispatch_of(uid, "id")) < stat_dispatch) continue;
    ++queued_behind;
    INFO(key_of[uid] << " sent " << sent << ", STAT sent " << stat_sent);
    CHECK(stat_sent < sent);
  }
  INFO("routine studies queued at the dispatcher behind the STAT one: " << queued_behind << "; of the " << after.size()
                                                                         << " moved after it, sent after it: "
                                                                         << moved_after_sent_after);
  CHECK(queued_behind >= 3);
  std::cout << "e2e_ris_priority: " << routine.size() << " routine chest CT orders; routine moves done before the STAT "
            << "order was queued " << before.size() << ", in flight then " << in_flight.size() << ", after it "
            << after.size() << "; queued at the dispatcher behind it " << queued_behind << " (all sent after it); of "
            << after.size() << " moved after it, sent after it " << moved_after_sent_after << "\n";

  // Exactly the expected SOP instances at the AI node, each once.
  check_exact_at_ai_node(f);

  // `why` names the order, its merged steps and what the RIS rule decided.
  const std::string why = f.pullctl({"why", stat_accession});
  INFO(why);
  CHECK_THAT(why, Catch::Contains("RIS order " + stat_accession + " from hospital-ris: priority STAT (urgent"));
  CHECK_THAT(why, Catch::Contains("2 procedure steps merged"));
  CHECK_THAT(why, Catch::Contains("RIS rule: passed"));
  const std::string json = f.pullctl({"-o", "json", "why", stat_accession});
  auto doc = nlohmann::json::parse(json);
  REQUIRE(doc["studies"].size() == 1);
  const auto& s = doc["studies"][0];
  CHECK(s["priority"] == 2);
  REQUIRE(s["ris_orders"].size() == 1);
  CHECK(s["ris_orders"][0]["priority"] == "STAT");
  CHECK(s["ris_orders"][0]["urgent"] == true);
  CHECK(s["ris_orders"][0]["steps"] == 2);
  CHECK(s["ris_orders"][0]["scheduled_date"] == stat["study_date"]);
  CHECK(s["ris_rule"]["decision"] == "passed");
}
