#include "pacspull/pipeline/retrieve_plan.hpp"

#include <algorithm>

namespace pacspull::pipeline {

std::vector<std::string> order_sources(const std::string& requested, const std::vector<SourceCandidate>& candidates,
                                       std::optional<long> expected) {
  struct Ranked {
    std::string pacs;
    bool complete;
    bool requested;
    long count;
    size_t index;
  };
  std::vector<Ranked> ranked;
  std::set<std::string> seen;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    if (c.pacs.empty() || !seen.insert(c.pacs).second) continue;
    const long count = c.instances.value_or(-1);
    const bool complete = c.instances && (!expected || count >= *expected);
    ranked.push_back({c.pacs, complete, c.pacs == requested, count, i});
  }
  if (!requested.empty() && !seen.count(requested)) ranked.push_back({requested, !expected, true, -1, candidates.size()});
  std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    if (a.complete != b.complete) return a.complete;
    if (a.requested != b.requested) return a.requested;
    if (a.count != b.count) return a.count > b.count;
    return a.index < b.index;
  });
  std::vector<std::string> out;
  for (const auto& r : ranked) out.push_back(r.pacs);
  return out;
}

RepullPlan plan_repull(const std::vector<PacsSeries>& pacs, const std::set<std::string>& have) {
  RepullPlan plan;
  for (const auto& s : pacs) {
    std::vector<std::string> missing;
    for (const auto& sop : s.sop_uids) {
      if (have.count(sop)) ++plan.present;
      else missing.push_back(sop);
    }
    if (missing.empty()) continue;
    if (missing.size() == s.sop_uids.size()) {
      plan.whole_series.push_back(s.series_uid);
    } else {
      for (auto& sop : missing) plan.instances.push_back({s.series_uid, std::move(sop)});
    }
  }
  return plan;
}

}  // namespace pacspull::pipeline
