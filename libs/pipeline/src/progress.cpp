#include "pacspull/pipeline/progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pacspull::pipeline {
namespace {

bool contains_code(std::string_view list, std::string_view code) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find('\\', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == code) return true;
    start = end + 1;
  }
  return false;
}

void add(StageCounts& c, const StateRow& r) {
  c.found += r.studies;
  const bool done = r.state == "completed" || r.state == "unsupported";
  const bool past_receive = done || r.state == "received";
  c.pulled += past_receive ? r.studies : std::min(r.studies, r.filtered);
  c.filtered += done ? r.studies : r.filtered;
  c.dispatched += r.dispatched;
  if (done) c.done += r.studies;
  if (r.state == "failed") c.failed += r.studies;
  c.pacs_instances += r.pacs_instances;
  c.received_instances += r.received_instances;
  c.states[r.state] += r.studies;
}

}  // namespace

std::string modality_group(std::string_view modalities) {
  if (contains_code(modalities, "CT")) return "CT";
  for (const char* dx : {"DX", "DR", "CR", "RF", "OT"})
    if (contains_code(modalities, dx)) return "DX";
  return modalities.empty() ? "?" : std::string(modalities);
}

Progress fold_progress(const std::vector<StateRow>& rows) {
  Progress p;
  for (const auto& r : rows) {
    add(p.by_group[modality_group(r.modalities)], r);
    add(p.total, r);
  }
  return p;
}

Rates compute_rates(const StageCounts& total, const RecentActivity& recent) {
  Rates r;
  r.window_seconds = recent.window_seconds;
  if (recent.since_start_seconds > 0) r.window_seconds = std::min(r.window_seconds, recent.since_start_seconds);
  if (r.window_seconds < 1) r.window_seconds = 1;
  r.studies_per_minute = static_cast<double>(recent.studies_done) * 60.0 / r.window_seconds;
  r.instances_per_second = static_cast<double>(recent.instances_received) / r.window_seconds;
  const long pending = total.pending();
  if (pending <= 0) {
    r.eta_seconds = 0;
    return r;
  }
  std::optional<double> by_studies, by_instances;
  if (r.studies_per_minute > 0) by_studies = static_cast<double>(pending) * 60.0 / r.studies_per_minute;
  const long missing = std::max(0L, total.pacs_instances - total.received_instances);
  if (r.instances_per_second > 0 && missing > 0) by_instances = static_cast<double>(missing) / r.instances_per_second;
  if (by_studies && by_instances) r.eta_seconds = std::max(*by_studies, *by_instances);
  else if (by_studies) r.eta_seconds = by_studies;
  else r.eta_seconds = by_instances;
  return r;
}

std::string progress_bar(long done, long total, int width) {
  if (width < 1) width = 1;
  std::string bar = "[";
  int filled = 0;
  if (total > 0) {
    const long clamped = std::clamp(done, 0L, total);
    filled = static_cast<int>(static_cast<double>(clamped) * width / static_cast<double>(total));
    if (clamped == total) filled = width;
  }
  bar.append(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '.');
  bar += "]";
  char tail[48];
  if (total > 0)
    std::snprintf(tail, sizeof tail, " %3ld%%  %ld/%ld", std::clamp(done, 0L, total) * 100 / total, done, total);
  else
    std::snprintf(tail, sizeof tail, "    -  0/0");
  return bar + tail;
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  const long s = std::lround(seconds);
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%ldm %02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ldh %02ldm", s / 3600, (s % 3600) / 60);
  return buf;
}

}  // namespace pacspull::pipeline
