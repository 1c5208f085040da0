#include "pacspull/pipeline/series_plan.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace pacspull::pipeline {
namespace {

std::string hhmmss(int s) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d%02d%02d", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

// YYYYMMDD -> days since epoch and back (proleptic Gregorian, via <chrono>).
std::optional<std::chrono::sys_days> parse_date(const std::string& d) {
  if (d.size() != 8 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{std::stoi(d.substr(0, 4))}, month{static_cast<unsigned>(std::stoi(d.substr(4, 2)))},
                     day{static_cast<unsigned>(std::stoi(d.substr(6, 2)))}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd};
}
std::string format_date(std::chrono::sys_days d) {
  std::chrono::year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

}  // namespace

std::string series_fingerprint(std::vector<SeriesInfo> series) {
  std::sort(series.begin(), series.end(), [](const SeriesInfo& a, const SeriesInfo& b) { return a.uid < b.uid; });
  std::string out;
  for (const auto& s : series) out += s.uid + "=" + (s.count ? std::to_string(*s.count) : "?") + ";";
  return out;
}

std::optional<long> total_count(const std::vector<SeriesInfo>& series) {
  long n = 0;
  for (const auto& s : series) {
    if (!s.count) return std::nullopt;
    n += *s.count;
  }
  return n;
}

FingerprintStep observe_fingerprint(const std::optional<FingerprintState>& before, const std::string& fingerprint,
                                    const FingerprintPolicy& policy, core::Time now, const std::string& what) {
  FingerprintStep step;
  if (!before || before->fingerprint != fingerprint) {
    step.next = FingerprintState{fingerprint, 0, now};
    step.reason = before && !before->fingerprint.empty() ? "series changed (" + what + "), watching again"
                                                          : "series seen (" + what + "), watching";
    return step;
  }
  step.next = *before;
  ++step.next.unchanged_polls;
  const auto age = std::chrono::duration_cast<core::Seconds>(now - before->since);
  const bool polls_ok = step.next.unchanged_polls >= policy.stable_polls;
  const bool age_ok = age >= policy.min_age;
  step.stable = polls_ok && age_ok;
  step.reason = std::string(step.stable ? "series fingerprint unchanged" : "series fingerprint unchanged so far") +
                " over " + std::to_string(step.next.unchanged_polls) + " polls and " + std::to_string(age.count()) +
                " s (" + what + ")";
  if (!step.stable)
    step.reason += "; stable after " + std::to_string(policy.stable_polls) + " polls and " +
                   std::to_string(policy.min_age.count()) + " s";
  return step;
}

std::string QueryPart::study_time() const { return whole_day() ? "" : hhmmss(from_s) + "-" + hhmmss(to_s); }

std::string QueryPart::describe() const {
  std::string s = "StudyDate " + study_date();
  if (!whole_day()) s += " StudyTime " + study_time();
  if (!modality.empty()) s += " ModalitiesInStudy " + modality;
  return s;
}

std::vector<QueryPart> split_capped(const QueryPart& part, bool can_split_modality,
                                    const std::vector<std::string>& modalities, int min_seconds) {
  std::vector<QueryPart> out;
  if (part.date_from != part.date_to) {
    auto a = parse_date(part.date_from), b = parse_date(part.date_to);
    if (!a || !b || *b < *a) return out;
    for (auto d = *a; d <= *b; d += std::chrono::days{1}) {
      QueryPart p = part;
      p.date_from = p.date_to = format_date(d);
      out.push_back(p);
    }
    return out;
  }
  if (part.to_s - part.from_s + 1 > 2 * std::max(1, min_seconds) - 1 && part.to_s > part.from_s) {
    const int mid = part.from_s + (part.to_s - part.from_s) / 2;
    QueryPart lo = part, hi = part;
    lo.to_s = mid;
    hi.from_s = mid + 1;
    return {lo, hi};
  }
  if (can_split_modality && part.modality.empty()) {
    for (const auto& m : modalities) {
      QueryPart p = part;
      p.modality = m;
      out.push_back(p);
    }
  }
  return out;
}

bool hit_cap(size_t answers, bool capped_by_peer, bool truncated, std::optional<long> cap) {
  if (capped_by_peer || truncated) return true;
  return cap && *cap > 0 && static_cast<long>(answers) >= *cap;
}

}  // namespace pacspull::pipeline
