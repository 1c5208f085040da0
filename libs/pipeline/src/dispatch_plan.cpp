#include "pacspull/pipeline/dispatch_plan.hpp"

#include <algorithm>

namespace pacspull::pipeline {

DispatchPlan plan_dispatch(const rules::RuleSet& rs, const std::vector<rules::SeriesCandidate>& candidates,
                           const std::vector<std::string>& previously_sent, long previously_sent_instances) {
  rules::Selection sel = rules::select_series(rs, candidates);
  DispatchPlan plan;
  for (const auto& uid : sel.series) plan.series.push_back(uid.str());
  if (plan.series.empty()) {
    plan.kind = previously_sent.empty() ? DispatchPlan::Kind::Unsupported : DispatchPlan::Kind::NotBetter;
    plan.reason = previously_sent.empty() ? "study is filtered out: " + sel.reason
                                            : "not re-informing: nothing to compute in the new data";
    return plan;
  }
  plan.kind = DispatchPlan::Kind::Send;
  plan.reason = sel.reason;
  if (previously_sent.empty()) return plan;
  // Came round again (late series, re-pull): re-inform only if better.
  std::vector<std::string> before = previously_sent, now = plan.series;
  std::sort(before.begin(), before.end());
  std::sort(now.begin(), now.end());
  if (before == now) {
    long instances = 0;
    for (const auto& c : candidates)
      if (std::find(now.begin(), now.end(), c.uid.str()) != now.end()) instances += c.instance_count;
    if (instances > previously_sent_instances) {
      plan.reason = "re-informing: the same series grew from " + std::to_string(previously_sent_instances) + " to " +
                    std::to_string(instances) + " instances";
      return plan;
    }
    plan.kind = DispatchPlan::Kind::NotBetter;
    plan.reason = "not re-informing because nothing new";
    return plan;
  }
  if (sel.whole_study) {
    plan.reason = "re-informing: the study has new series (" + sel.reason + ")";
    return plan;
  }
  const rules::SeriesCandidate* old_c = nullptr;
  const rules::SeriesCandidate* new_c = nullptr;
  for (const auto& c : candidates) {
    if (c.uid.str() == previously_sent.front()) old_c = &c;
    if (c.uid.str() == plan.series.front()) new_c = &c;
  }
  std::string why;
  if (old_c && new_c && !rules::is_better(rs, *old_c, *new_c, &why)) {
    plan.kind = DispatchPlan::Kind::NotBetter;
    plan.reason = "not re-informing: " + why;
    return plan;
  }
  plan.reason = "re-informing because a better series arrived: " + (why.empty() ? sel.reason : why);
  return plan;
}

std::vector<rules::SeriesCandidate> candidates_for_target(const std::vector<rules::SeriesCandidate>& candidates,
                                                          const std::vector<std::string>& families) {
  if (families.empty()) return candidates;
  std::vector<rules::SeriesCandidate> out;
  for (const auto& c : candidates)
    if (std::find(families.begin(), families.end(), std::string(rules::to_string(c.family))) != families.end())
      out.push_back(c);
  return out;
}

Settle settle_of(const std::vector<DispatchPlan>& plans) {
  bool sent_before = false;
  for (const auto& p : plans) {
    if (p.kind == DispatchPlan::Kind::Send) return Settle::Queue;
    if (p.kind == DispatchPlan::Kind::NotBetter) sent_before = true;
  }
  return sent_before ? Settle::Completed : Settle::Unsupported;
}

}  // namespace pacspull::pipeline
