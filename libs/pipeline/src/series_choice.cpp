#include "pacspull/pipeline/series_choice.hpp"

namespace pacspull::pipeline {
namespace {

// Why a failed series verdict may be trusted at query time; "" = it may not (keep it).
std::string safe_drop(const rules::Verdict& v, const core::AttributeMap& attrs) {
  if (v.pass) return "";
  if (v.rule == "modality") return attrs.trimmed("Modality").empty() ? "" : v.reason;
  if (v.rule == "chest") {
    // Only a BodyPartExamined that names another part (read losslessly) is final.
    const std::string body = attrs.trimmed("BodyPartExamined");
    if (body.empty() || v.reason.find("BodyPartExamined undecodable") != std::string::npos ||
        v.reason.find("BodyPartExamined empty") != std::string::npos)
      return "";
    return v.reason;
  }
  if (v.rule == "scout" || v.rule == "image_type") return v.reason;
  return "";
}

}  // namespace

SeriesChoice choose_series(const rules::RuleSet& rs, const std::vector<core::AttributeMap>& series,
                           const core::AttributeMap& study) {
  SeriesChoice out;
  if (series.empty()) {
    out.reason = "no series answers: whole study";
    return out;
  }
  long kept_count = 0;
  bool counts_known = true;
  std::vector<std::string> kept;
  for (const auto& s : series) {
    const std::string uid = s.trimmed("SeriesInstanceUID");
    if (uid.empty()) {
      out.reason = "a series answer without SeriesInstanceUID: whole study";
      return out;
    }
    if (rules::family_of(rs, s.trimmed("Modality")) == rules::Family::Dx) {
      out.reason = "DX family (" + s.trimmed("Modality") + "): whole study";
      return out;
    }
    core::AttributeMap attrs = s;
    for (const char* k : {"StudyDescription", "SpecificCharacterSet"})
      if (attrs.trimmed(k).empty() && !study.trimmed(k).empty()) attrs.set(k, study.trimmed(k));
    rules::Verdict v = rules::evaluate(rs, rules::Level::Series, attrs);
    std::string why = safe_drop(v, attrs);
    if (why.empty() && !v.pass && v.rule == "chest") {
      // The query cannot see every chest source: judge the rest as if it were chest.
      core::AttributeMap as_chest = attrs;
      as_chest.set("BodyPartExamined", "CHEST");
      why = safe_drop(rules::evaluate(rs, rules::Level::Series, as_chest), as_chest);
      if (why.rfind("filter because BodyPartExamined", 0) == 0) why.clear();
    }
    if (!why.empty()) {
      out.dropped.emplace_back(uid, why);
      continue;
    }
    kept.push_back(uid);
    auto n = s.integer("NumberOfSeriesRelatedInstances");
    if (n) kept_count += *n;
    else counts_known = false;
  }
  if (kept.empty()) {
    out.reason = "no series would pass at query time: whole study, the filter decides";
    out.dropped.clear();
    return out;
  }
  if (out.dropped.empty()) {
    out.reason = "every series is a candidate: whole study";
    return out;
  }
  out.whole_study = false;
  out.move = kept;
  if (counts_known) out.instances = kept_count;
  out.reason = std::to_string(kept.size()) + " of " + std::to_string(series.size()) + " series are candidates";
  return out;
}

}  // namespace pacspull::pipeline
