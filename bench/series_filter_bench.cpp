// Bytes the finder's series-level filtering asks to move, against the bytes of the
// dispatch set, on a generated day held by a PACS (issue 9 part 3). For every study the
// day expects to pull, the same queries the finder makes on a PACS without study-level
// counts (series level, image level for counts) and the same choice
// (pipeline::choose_series, default rules; DX family whole) decide which series move; the
// file sizes of the day's manifest give the bytes. Prints figures; not a pass/fail test.
//
// Usage: series_filter_bench --day DAY_DIR --port PORT [--ae QRSCP] [--host 127.0.0.1]
// (bench/series_filter_bytes.sh generates the day, upscales it and starts dcmqrscp.)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "pacspull/dicom/scu.hpp"
#include "pacspull/pipeline/series_choice.hpp"

namespace fs = std::filesystem;
using namespace pacspull;

int main(int argc, char** argv) {
  fs::path day;
  std::string ae = "QRSCP", host = "127.0.0.1";
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--day") day = argv[i + 1];
    else if (arg == "--port") port = std::atoi(argv[i + 1]);
    else if (arg == "--ae") ae = argv[i + 1];
    else if (arg == "--host") host = argv[i + 1];
  }
  if (day.empty() || port <= 0) {
    std::fprintf(stderr, "usage: series_filter_bench --day DAY_DIR --port PORT [--ae QRSCP]\n");
    return 2;
  }
  nlohmann::json manifest;
  std::ifstream(day / "manifest.json") >> manifest;
  dicom::ScuOptions options;
  options.calling_ae = core::AeTitle("PACSPULL");
  const dicom::Peer peer{core::AeTitle(ae), host, static_cast<uint16_t>(port)};
  rules::RuleSet rs;
  long long pulled = 0, whole = 0, dispatch = 0;
  int studies = 0, series_level = 0;
  for (const auto& s : manifest["studies"]) {
    if (s["expected"]["state"] == "not_pulled") continue;
    ++studies;
    const std::string uid = s["study_instance_uid"];
    std::set<std::string> dispatched;
    for (const auto& x : s["expected"]["dispatch"]) dispatched.insert(x.get<std::string>());
    std::map<std::string, long long> series_bytes;
    for (const auto& series : s["series"])
      for (const auto& i : series["instances"])
        series_bytes[series["series_instance_uid"].get<std::string>()] +=
            static_cast<long long>(fs::file_size(day / i["path"].get<std::string>()));
    dicom::FindResult r = dicom::find(options, peer, dicom::QueryLevel::Series,
                                      {{"StudyInstanceUID", uid},
                                       {"SeriesInstanceUID", ""},
                                       {"Modality", ""},
                                       {"SeriesNumber", ""},
                                       {"SeriesDescription", ""},
                                       {"BodyPartExamined", ""},
                                       {"ProtocolName", ""},
                                       {"NumberOfSeriesRelatedInstances", ""},
                                       {"SpecificCharacterSet", ""}});
    if (r.error) {
      std::fprintf(stderr, "series C-FIND of %s failed: %s\n", uid.c_str(), r.error->message.c_str());
      return 1;
    }
    for (auto& a : r.matches) {
      if (a.integer("NumberOfSeriesRelatedInstances")) continue;
      dicom::FindResult ir = dicom::find(options, peer, dicom::QueryLevel::Image,
                                         {{"StudyInstanceUID", uid},
                                          {"SeriesInstanceUID", a.trimmed("SeriesInstanceUID")},
                                          {"SOPInstanceUID", ""}});
      if (ir.error) {
        std::fprintf(stderr, "image C-FIND failed: %s\n", ir.error->message.c_str());
        return 1;
      }
      a.set("NumberOfSeriesRelatedInstances", std::to_string(ir.matches.size()));
    }
    core::AttributeMap study{{"StudyDescription", s.value("study_description", "")}};
    pipeline::SeriesChoice choice = pipeline::choose_series(rs, r.matches, study);
    long long study_whole = 0, study_pulled = 0, study_dispatch = 0;
    for (const auto& [series_uid, bytes] : series_bytes) {
      study_whole += bytes;
      if (dispatched.count(series_uid)) study_dispatch += bytes;
      bool moved = choice.whole_study ||
                   std::find(choice.move.begin(), choice.move.end(), series_uid) != choice.move.end();
      if (moved) study_pulled += bytes;
    }
    if (!choice.whole_study) ++series_level;
    std::printf("%-32s whole %8.1f MiB  moved %8.1f MiB  dispatch %8.1f MiB  (%s)\n", s["key"].get<std::string>().c_str(),
                study_whole / 1048576.0, study_pulled / 1048576.0, study_dispatch / 1048576.0, choice.reason.c_str());
    whole += study_whole;
    pulled += study_pulled;
    dispatch += study_dispatch;
  }
  std::printf("\n%d studies, %d moved at series level\n", studies, series_level);
  std::printf("bytes of the dispatch set:   %10.1f MiB\n", dispatch / 1048576.0);
  std::printf("whole studies:               %10.1f MiB  ratio %.3f\n", whole / 1048576.0,
              dispatch ? static_cast<double>(whole) / dispatch : 0.0);
  std::printf("series-level filtering:      %10.1f MiB  ratio %.3f\n", pulled / 1048576.0,
              dispatch ? static_cast<double>(pulled) / dispatch : 0.0);
  return 0;
}
