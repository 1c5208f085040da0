#pragma once
// Checks shared by the e2e tests of the receiver at its limits (enospc_test.cpp,
// receivers_scaled_test.cpp): the AI node got exactly the expected SOP instances, each
// once, and every file it got is the PACS's object, whole; metrics read from a service's
// Prometheus endpoint; a service's grpc.health.v1 status through pullctl.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline_fixture.hpp"

namespace pacspull::testing {

// Waits (deadline) until every study expected to settle has settled; names the ones that
// did not.
inline bool wait_all_settled(PipelineFixture& f, int seconds) {
  const bool settled = f.wait_count("SELECT count(*) FROM studies WHERE state IN ('completed', 'unsupported', 'failed')",
                                    f.expected_settled(), seconds);
  if (!settled) {
    std::string lines;
    for (const auto& s : f.manifest()["studies"]) {
      const std::string want = s["expected"]["state"];
      if (want == "not_pulled") continue;
      const std::string got =
          f.query("SELECT state FROM studies WHERE study_uid = '" + s["study_instance_uid"].get<std::string>() + "'");
      if (got != want) lines += "  " + s["key"].get<std::string>() + ": " + (got.empty() ? "not in the ledger" : got) + "\n";
    }
    UNSCOPED_INFO("studies not settled after " << seconds << " s:\n" << lines);
    UNSCOPED_INFO(f.pullctl({"status"}));
  }
  return settled;
}

// The instances of a pulled study that must have been received: every instance the PACS
// holds of what the finder asked to move. With series filtering before the move (on by
// default where the PACS answers series queries well, issue 9 part 3) that is the series
// named in move_series (NULL: the whole study); a study the finder settled unsupported
// without a move (every series failing on full information) had nothing moved.
inline long expected_received(PipelineFixture& f, const nlohmann::json& s) {
  const std::string uid = s["study_instance_uid"];
  if (f.count("SELECT count(*) FROM events WHERE study_uid = '" + uid +
              "' AND service = 'finder' AND kind = 'unsupported'") > 0)
    return 0;
  const std::string listed =
      f.query("SELECT coalesce(array_to_string(move_series, ','), '') FROM studies WHERE study_uid = '" + uid + "'");
  if (listed.empty()) return s["instance_count"].get<long>();
  std::set<std::string> moved;
  std::stringstream in(listed);
  for (std::string x; std::getline(in, x, ',');) moved.insert(x);
  long n = 0;
  for (const auto& series : s["series"])
    if (moved.count(series["series_instance_uid"].get<std::string>())) n += static_cast<long>(series["instances"].size());
  return n;
}

// The AI node holds exactly the expected SOP Instance UIDs, each received by exactly one
// C-STORE (storescp's log counts a second copy that overwrote the first), and the ledger
// agrees: every study in its expected state, each completed one dispatched once, every
// instance the finder asked to move recorded (expected_received).
inline void check_exact_at_ai_node(PipelineFixture& f) {
  const std::set<std::string> want = f.expected_sops();
  wait_for([&] { return f.ai().sop_instance_uids().size() >= want.size(); }, std::chrono::seconds(30));
  const std::vector<std::string> got_list = f.ai().sop_instance_uids();
  const std::set<std::string> got(got_list.begin(), got_list.end());
  const std::map<std::string, int> received = f.ai().received_counts();
  long missing = 0, unexpected = 0, twice = 0, stores = 0;
  std::string first_missing, first_twice;
  for (const auto& sop : want)
    if (!got.count(sop) && ++missing == 1) first_missing = sop;
  for (const auto& sop : got)
    if (!want.count(sop)) ++unexpected;
  for (const auto& [sop, n] : received) {
    stores += n;
    if (n > 1 && ++twice == 1) first_twice = sop + " x" + std::to_string(n);
  }
  INFO("AI node: expected " << want.size() << " instances, got " << got.size() << " files from " << stores
                            << " C-STOREs; missing " << missing << " (first " << first_missing << "), unexpected "
                            << unexpected << ", received more than once " << twice << " (first " << first_twice << ")");
  CHECK(missing == 0);
  CHECK(unexpected == 0);
  CHECK(twice == 0);
  CHECK(stores == static_cast<long>(want.size()));

  for (const auto& s : f.manifest()["studies"]) {
    const std::string uid = s["study_instance_uid"];
    const std::string expected_state = s["expected"]["state"];
    INFO("ledger, study " << s["key"].get<std::string>() << ": " << s["expected"]["why"].get<std::string>());
    if (expected_state == "not_pulled") {
      CHECK(f.count("SELECT count(*) FROM studies WHERE study_uid = '" + uid + "'") == 0);
      continue;
    }
    CHECK(f.query("SELECT state FROM studies WHERE study_uid = '" + uid + "'") == expected_state);
    const long sent = f.count("SELECT count(*) FROM dispatches WHERE status = 'sent' AND study_uid = '" + uid + "'");
    CHECK(sent == (expected_state == "completed" ? 1 : 0));
    CHECK(f.count("SELECT count(*) FROM instances WHERE study_uid = '" + uid + "'") == expected_received(f, s));
  }
}

// Every DICOM file under `dir` (hidden folders such as .incoming skipped) parses and equals
// the PACS's object with its SOP Instance UID element by element (compare_ai_node.py).
// Returns how many files were compared.
inline long check_files_match_pacs(PipelineFixture& f, const std::filesystem::path& dir, const std::string& what) {
  const std::filesystem::path out = f.dir() / ("compare-" + what + ".json");
  const std::filesystem::path script =
      std::filesystem::path(env_or("PACSPULL_SOURCE_DIR", ".")) / "tests/e2e/compare_ai_node.py";
  // -W ignore: pydicom's warnings about the field's charsets would share the output file.
  const int rc = run_command({"/usr/bin/python3", "-W", "ignore", script.string(), dir.string(), f.day_dir().string()},
                             std::chrono::minutes(2), out);
  const std::string text = read_file(out);
  INFO(what << ": compare_ai_node.py exit " << rc << ": " << text);
  CHECK(rc == 0);
  try {
    // The report is the last line that is a JSON object (stderr shares the file).
    const auto end = text.find_last_not_of('\n');
    const auto start = text.rfind('\n', end);
    const auto j = nlohmann::json::parse(text.substr(start == std::string::npos ? 0 : start + 1));
    return j["matched"].get<long>();
  } catch (const std::exception&) {
    FAIL_CHECK("compare_ai_node.py printed no JSON");
    return 0;
  }
}

// One sample of a Prometheus text endpoint: the value of the line that starts with
// `series` (name and labels exactly as exported), or -1 when absent or unreachable.
inline double scrape(const std::filesystem::path& work_dir, uint16_t port, const std::string& series) {
  const std::filesystem::path out = work_dir / ("metrics-" + std::to_string(port) + ".txt");
  std::filesystem::remove(out);
  run_command({"curl", "-s", "--max-time", "5", "http://127.0.0.1:" + std::to_string(port) + "/metrics"},
              std::chrono::seconds(10), out);
  std::istringstream in(read_file(out));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

// grpc.health.v1 status of one service as `pullctl health` reports it (SERVING,
// NOT_SERVING, UNREACHABLE), "" when pullctl printed no JSON.
inline std::string health_of(PipelineFixture& f, const std::string& service) {
  const std::string text = f.pullctl({"-o", "json", "health", "--timeout", "2"});
  const auto open = text.find('{'), close = text.rfind('}');
  if (open == std::string::npos || close == std::string::npos) return "";
  try {  // pullctl's own log lines, if any, go around the document
    // The document is kept in a local: a range-for over parse(...)["services"] iterates a
    // member of a temporary destroyed before the loop body runs (it read as "" here).
    const auto doc = nlohmann::json::parse(text.substr(open, close - open + 1));
    for (const auto& s : doc["services"])
      if (s["service"] == service) return s["status"].get<std::string>();
  } catch (const std::exception&) {
  }
  return "";
}

}  // namespace pacspull::testing
