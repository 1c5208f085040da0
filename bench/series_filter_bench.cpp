// Bytes the finder's series-level filtering asks to move, against the bytes of the
// dispatch set, on a generated day held by a PACS (issue 9 part 3). For every study the
// day expects to pull, the same queries the finder makes (series level with the image
// header keys; image level for counts when the PACS gives none, with the header keys too;
// one image-level answer for the header when the series answer has none and the PACS
// lists images) and the same choice (pipeline::choose_series, default rules; DX family
// whole) decide which series move; the file sizes of the day's manifest give the bytes.
// Per series it prints what moved, what was dispatched, and for every series pulled but not
// dispatched the final filter's verdict on its first image (rules::evaluate at instance
// level, as the filter service does). Where the PACS answered no image header for a CT series
// the finder samples (pipeline::wants_sample: count >= kSampleMinInstances, the verdict could
// change), the header of ONE instance is C-GET into a scratch file (dicom::get_header, the middle
// InstanceNumber of the image list) and merged (pipeline::merge_sample), as the finder does
// with finder.sample_headers on; the bytes of every sampled instance count as pulled.
// Prints figures; not a pass/fail test.
//
// Usage: series_filter_bench --day DAY_DIR --port PORT [--ae QRSCP] [--host 127.0.0.1]
//        [--label NAME] [--quiet 1] [--header 0] [--sample 0]
// --header 0: the queries without the image header keys, as the finder asked before
// (choose_series then decides on what it decided before: the "before" figure).
// --sample 0: no sampled headers (finder.sample_headers: off).
// (bench/series_filter_bytes.sh generates the day, upscales it and starts the PACS.)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "pacspull/dicom/get.hpp"
#include "pacspull/dicom/read.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/pipeline/series_choice.hpp"

namespace fs = std::filesystem;
using namespace pacspull;

namespace {

constexpr double kMiB = 1048576.0;

}  // namespace

int main(int argc, char** argv) {
  fs::path day;
  std::string ae = "QRSCP", host = "127.0.0.1", label = "PACS";
  int port = 0;
  bool quiet = false, header = true, sample = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--day") day = argv[i + 1];
    else if (arg == "--port") port = std::atoi(argv[i + 1]);
    else if (arg == "--ae") ae = argv[i + 1];
    else if (arg == "--host") host = argv[i + 1];
    else if (arg == "--label") label = argv[i + 1];
    else if (arg == "--quiet") quiet = std::string(argv[i + 1]) == "1";
    else if (arg == "--header") header = std::string(argv[i + 1]) != "0";
    else if (arg == "--sample") sample = std::string(argv[i + 1]) != "0";
  }
  if (day.empty() || port <= 0) {
    std::fprintf(stderr, "usage: series_filter_bench --day DAY_DIR --port PORT [--ae QRSCP] [--label NAME]\n");
    return 2;
  }
  nlohmann::json manifest;
  std::ifstream(day / "manifest.json") >> manifest;
  dicom::ScuOptions options;
  options.calling_ae = core::AeTitle("PACSPULL");
  dicom::ScuOptions one = options;
  one.max_results = 1;
  const dicom::Peer peer{core::AeTitle(ae), host, static_cast<uint16_t>(port)};
  rules::RuleSet rs;
  long long pulled = 0, whole = 0, dispatch = 0;
  int settled = 0, lost = 0;
  int studies = 0, series_level = 0, series_queries = 0, count_queries = 0, header_queries = 0;
  int samples = 0, sample_failures = 0;
  long long sampled_bytes = 0;
  std::map<std::string, long long> excess;  // why pulled but not dispatched -> bytes
  std::optional<bool> image_header;         // as the finder learns it per PACS
  for (const auto& s : manifest["studies"]) {
    if (s["expected"]["state"] == "not_pulled") continue;
    ++studies;
    const std::string uid = s["study_instance_uid"];
    std::set<std::string> dispatched;
    for (const auto& x : s["expected"]["dispatch"]) dispatched.insert(x.get<std::string>());
    std::map<std::string, long long> series_bytes;
    std::map<std::string, std::pair<fs::path, long>> first_image;  // series -> first file, count
    for (const auto& series : s["series"]) {
      const std::string su = series["series_instance_uid"];
      for (const auto& i : series["instances"]) {
        const fs::path p = day / i["path"].get<std::string>();
        series_bytes[su] += static_cast<long long>(fs::file_size(p));
        auto& [first, n] = first_image[su];
        if (first.empty()) first = p;
        ++n;
      }
    }
    ++series_queries;
    const core::AttributeMap series_keys = pipeline::series_query_keys(uid, header);
    dicom::FindResult r = dicom::find(options, peer, dicom::QueryLevel::Series, series_keys);
    if (r.error) {
      std::fprintf(stderr, "series C-FIND of %s failed: %s\n", uid.c_str(), r.error->message.c_str());
      return 1;
    }
    std::map<std::string, std::vector<core::AttributeMap>> listed;  // series -> image-level answers
    for (auto& a : r.matches) {
      const bool counted_by_images = !a.integer("NumberOfSeriesRelatedInstances");
      if (counted_by_images) {
        ++count_queries;
        dicom::FindResult ir = dicom::find(options, peer, dicom::QueryLevel::Image,
                                           pipeline::image_query_keys(uid, a.trimmed("SeriesInstanceUID")));
        if (ir.error) {
          std::fprintf(stderr, "image C-FIND failed: %s\n", ir.error->message.c_str());
          return 1;
        }
        a.set("NumberOfSeriesRelatedInstances", std::to_string(ir.matches.size()));
        if (header) pipeline::take_header(a, ir.matches);
        if (!ir.matches.empty() && !image_header) image_header = pipeline::header_answered(a);
        listed[a.trimmed("SeriesInstanceUID")] = ir.matches;
      }
      if (header && !counted_by_images && !pipeline::header_answered(a) &&
          rules::family_of(rs, a.trimmed("Modality")) == rules::Family::Ct && image_header.value_or(true)) {
        ++header_queries;
        dicom::FindResult ir = dicom::find(one, peer, dicom::QueryLevel::Image,
                                           pipeline::image_query_keys(uid, a.trimmed("SeriesInstanceUID")));
        if (ir.error) {
          std::fprintf(stderr, "one-instance image C-FIND failed: %s\n", ir.error->message.c_str());
          return 1;
        }
        pipeline::take_header(a, ir.matches);
        if (!ir.matches.empty()) image_header = pipeline::header_answered(a);
        listed[a.trimmed("SeriesInstanceUID")] = ir.matches;
      }
    }
    core::AttributeMap study{{"StudyDescription", s.value("study_description", "")}};
    // Sampled headers, the finder's way (FinderApp::sample_headers): not where a DX-family
    // series moves the study whole.
    long long study_sampled = 0;
    const bool dx = std::any_of(r.matches.begin(), r.matches.end(), [&](const core::AttributeMap& a) {
      return rules::family_of(rs, a.trimmed("Modality")) == rules::Family::Dx;
    });
    for (auto& a : r.matches) {
      if (!header || !sample || dx || !pipeline::wants_sample(rs, a, study)) continue;
      const std::string su = a.trimmed("SeriesInstanceUID");
      std::optional<std::string> sop;
      if (auto it = listed.find(su); it != listed.end()) sop = pipeline::sample_instance(it->second);
      if (!sop) {
        dicom::FindResult ir = dicom::find(one, peer, dicom::QueryLevel::Image, pipeline::image_query_keys(uid, su));
        if (!ir.error) sop = pipeline::sample_instance(ir.matches);
      }
      if (!sop) {
        ++sample_failures;
        continue;
      }
      dicom::HeaderResult got =
          dicom::get_header(options, peer, core::StudyUid(uid), core::SeriesUid(su), core::SopInstanceUid(*sop));
      study_sampled += static_cast<long long>(got.bytes);
      if (!got.header) {
        ++sample_failures;
        std::fprintf(stderr, "sample of series %s failed: %s\n", su.c_str(), pipeline::describe(got.get.outcome).c_str());
        continue;
      }
      ++samples;
      pipeline::merge_sample(a, *got.header);
    }
    sampled_bytes += study_sampled;
    pipeline::SeriesChoice choice = pipeline::choose_series(rs, r.matches, study);
    long long study_whole = 0, study_pulled = 0, study_dispatch = 0;
    std::string lines;
    for (const auto& [series_uid, bytes] : series_bytes) {
      study_whole += bytes;
      const bool sent = dispatched.count(series_uid) > 0;
      if (sent) study_dispatch += bytes;
      // none_pass: the finder settles the study unsupported, nothing moves.
      bool moved = !choice.none_pass &&
                   (choice.whole_study ||
                    std::find(choice.move.begin(), choice.move.end(), series_uid) != choice.move.end());
      if (!moved && sent) ++lost;  // a dispatched series left behind: must stay 0
      if (moved) study_pulled += bytes;
      // The final filter's verdict on the first image, as the filter service reads it.
      const auto& [first, n] = first_image[series_uid];
      dicom::ReadResult rr = dicom::read_attributes(first);
      std::string verdict = "unreadable";
      std::string what;
      if (rr.attributes) {
        rules::Context rc;
        rc.instance_count = n;
        rules::Verdict v = rules::evaluate(rs, rules::Level::Instance, *rr.attributes, rc);
        verdict = v.pass ? "pass" : v.reason;
        what = rr.attributes->trimmed("Modality") + " " + rr.attributes->trimmed("SeriesDescription");
        if (moved && !sent) {
          std::string why = v.pass                       ? "passes, not selected (a thinner series is)"
                            : v.rule == "chest"          ? "not chest (" + v.reason + ")"
                            : v.rule == "modality"       ? "modality (" + v.reason + ")"
                                                         : v.rule + " (" + v.reason + ")";
          if (v.rule == "image_type") why = "image type / description word";
          if (v.rule == "slice_thickness") why = "thickness";
          if (v.rule == "scout") why = "scout count";
          if (v.rule == "chest") why = "not chest";
          excess[why] += bytes;
        }
      }
      std::string dropped_why;
      for (const auto& [u, w] : choice.dropped)
        if (u == series_uid) dropped_why = w;
      char line[512];
      std::snprintf(line, sizeof line, "    %-6s %-8s %7.1f MiB %4ld img  %-24.24s final: %s%s%s\n",
                    moved ? "moved" : "left", sent ? "dispatch" : "", bytes / kMiB, n, what.c_str(), verdict.c_str(),
                    dropped_why.empty() ? "" : "; left because ", dropped_why.c_str());
      lines += line;
    }
    if (!choice.whole_study) ++series_level;
    if (choice.none_pass) ++settled;
    if (!quiet) {
      std::printf("%-32s whole %6.1f MiB  moved %6.1f MiB  sampled %5.2f MiB  dispatch %6.1f MiB  (%s)\n",
                  s["key"].get<std::string>().c_str(), study_whole / kMiB, study_pulled / kMiB, study_sampled / kMiB,
                  study_dispatch / kMiB, choice.reason.c_str());
      std::fputs(lines.c_str(), stdout);
    }
    whole += study_whole;
    pulled += study_pulled + study_sampled;  // a sampled instance travelled: it counts as pulled
    dispatch += study_dispatch;
  }
  std::printf("\n[%s] %d studies, %d moved at series level, %d settled unsupported without a move; "
              "dispatched series left behind: %d\n",
              label.c_str(), studies, series_level, settled, lost);
  std::printf("[%s] C-FIND round trips: %d series level, %d image level for counts, %d image level for one header "
              "(extra for the header: %d)\n",
              label.c_str(), series_queries, count_queries, header_queries, header_queries);
  std::printf("[%s] sampled headers: %d (C-GET of one instance each, %.1f MiB, counted as pulled), %d failed\n",
              label.c_str(), samples, sampled_bytes / kMiB, sample_failures);
  std::printf("[%s] bytes of the dispatch set:   %10.1f MiB\n", label.c_str(), dispatch / kMiB);
  std::printf("[%s] whole studies:               %10.1f MiB  ratio %.3f\n", label.c_str(), whole / kMiB,
              dispatch ? static_cast<double>(whole) / dispatch : 0.0);
  std::printf("[%s] series-level filtering:      %10.1f MiB  ratio %.3f\n", label.c_str(), pulled / kMiB,
              dispatch ? static_cast<double>(pulled) / dispatch : 0.0);
  for (const auto& [why, bytes] : excess)
    std::printf("[%s]   pulled, not dispatched: %8.1f MiB  %s\n", label.c_str(), bytes / kMiB, why.c_str());
  return 0;
}
