#include "pacspull/pipeline/retrieve_plan.hpp"

#include <algorithm>
#include <cstdio>

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

bool refuses_series_level(const Outcome& o) {
  switch (o.cls) {
    case OutcomeClass::IdentifierMismatch:
    case OutcomeClass::UnableToProcess:
    case OutcomeClass::Refused:
      return true;
    default:
      return false;
  }
}

bool retrieve_by_series(const std::optional<bool>& series_move) { return series_move.value_or(true); }

bool continue_after_series(const std::optional<bool>& series_move, const Outcome& o) {
  if (o.ok() || o.cls == OutcomeClass::NothingSent) return true;
  return !series_move.has_value() && refuses_series_level(o);
}

SeriesLevelDecision judge_series_retrievals(const std::optional<bool>& series_move,
                                            const std::vector<SeriesRetrieval>& done) {
  SeriesLevelDecision d;
  if (done.empty() || series_move == false) return d;
  long delivered = 0;
  size_t refused = 0, nothing = 0;
  uint16_t status = 0;
  for (const auto& r : done) {
    if (r.completed > 0) delivered += r.completed;
    else if (refuses_series_level(r.outcome)) {
      ++refused;
      if (!status) status = r.outcome.status;
    } else if (r.outcome.cls == OutcomeClass::NothingSent) {
      ++nothing;
    }
  }
  const std::string n = "the " + std::to_string(done.size()) + " series named";
  if (delivered > 0) {
    if (!series_move) {
      d.learn = true;
      d.reason = "series-level retrieval delivered " + std::to_string(delivered) + " instances";
    }
    return d;
  }
  if (series_move == true || refused + nothing != done.size()) return d;
  d.whole_study = true;
  d.learn_false_if_study_delivers = true;
  char hex[8] = "";
  if (status) std::snprintf(hex, sizeof hex, "0x%04X", status);
  if (nothing == 0)
    d.reason = "every one of " + n + " was refused" + (status ? std::string(" (") + hex + ")" : "");
  else if (refused == 0)
    d.reason = "for every one of " + n + " the PACS sent nothing";
  else
    d.reason = "every one of " + n + " was refused (" + std::to_string(refused) + (status ? std::string(", ") + hex : "") +
               ") or sent nothing (" + std::to_string(nothing) + ")";
  return d;
}

std::optional<RetrieveSetting> parse_retrieve_setting(std::string_view s) {
  if (s == "move") return RetrieveSetting::Move;
  if (s == "get") return RetrieveSetting::Get;
  if (s == "auto") return RetrieveSetting::Auto;
  return std::nullopt;
}

const char* to_string(RetrieveSetting s) {
  switch (s) {
    case RetrieveSetting::Move: return "move";
    case RetrieveSetting::Get: return "get";
    case RetrieveSetting::Auto: return "auto";
  }
  return "move";
}

GetFallback get_fallback(RetrieveSetting setting, const std::optional<bool>& c_get, const Outcome& move_outcome,
                         int move_completed) {
  if (setting != RetrieveSetting::Auto || move_completed > 0) return {};
  std::string refused;
  if (move_outcome.cls == OutcomeClass::DestinationUnknown) {
    refused = "the PACS does not know our receiver's AE title (0xA801)";
  } else if (move_outcome.cls == OutcomeClass::UnableToProcess) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%04X", move_outcome.status);
    refused = std::string("the PACS refused the C-MOVE before sending anything (") + hex +
              "; Orthanc answers so for a destination it does not know)";
  } else {
    return {};
  }
  if (c_get == true)
    return {true, refused + " and does C-GET: retrieving by C-GET (register our AE title, host and port at the PACS "
                            "to move instead)"};
  return {false, "retrieve: auto: " + refused + ", and C-GET is " + (c_get ? "known not to work" : "not known to work") +
                     " at this PACS (probe it, or pin capabilities.c_get)"};
}

}  // namespace pacspull::pipeline
