#include "pacspull/pipeline/series_choice.hpp"

#include <algorithm>

#include "pacspull/rules/text.hpp"

namespace pacspull::pipeline {

bool header_answered(const core::AttributeMap& series) { return !series.trimmed("ImageType").empty(); }

namespace {
constexpr const char* kHeaderKeys[] = {"ImageType", "SliceThickness", "ConvolutionKernel"};
}  // namespace

core::AttributeMap series_query_keys(const std::string& study_uid, bool header) {
  core::AttributeMap keys{{"StudyInstanceUID", study_uid},
                          {"SeriesInstanceUID", ""},
                          {"Modality", ""},
                          {"SeriesNumber", ""},
                          {"SeriesDescription", ""},
                          {"BodyPartExamined", ""},
                          {"ProtocolName", ""},
                          {"NumberOfSeriesRelatedInstances", ""},
                          {"SpecificCharacterSet", ""}};
  if (header)
    for (const char* k : kHeaderKeys) keys.set(k, "");
  return keys;
}

core::AttributeMap image_query_keys(const std::string& study_uid, const std::string& series_uid) {
  core::AttributeMap keys{{"StudyInstanceUID", study_uid},
                          {"SeriesInstanceUID", series_uid},
                          {"SOPInstanceUID", ""},
                          {"InstanceNumber", ""}};  // which instance to sample (the middle one)
  for (const char* k : kHeaderKeys) keys.set(k, "");
  return keys;
}

std::optional<bool> take_header(core::AttributeMap& series, const std::vector<core::AttributeMap>& images) {
  if (header_answered(series)) return std::nullopt;
  for (const auto& i : images) {
    if (!header_answered(i)) continue;
    for (const char* k : kHeaderKeys)
      if (auto v = i.get(k)) series.set(k, std::string(*v));
    return true;
  }
  if (images.empty()) return std::nullopt;
  return false;
}

namespace {

// Whether this answer's thickness and kernel are the image header's: the PACS read a
// header (ImageType), the count is the PACS's own, and an empty SliceThickness is only
// taken as the header's when the PACS filled SliceThickness for another series of the
// study (a PACS that indexes ImageType but not SliceThickness answers it empty for all).
bool header_known(const core::AttributeMap& attrs, bool thickness_answered) {
  return header_answered(attrs) && attrs.integer("NumberOfSeriesRelatedInstances") &&
         (thickness_answered || !attrs.trimmed("SliceThickness").empty());
}

// Why a failed series verdict may be trusted at query time; "" = it may not (keep it).
std::string safe_drop(const rules::Verdict& v, const core::AttributeMap& attrs, bool thickness_answered) {
  if (v.pass) return "";
  // Thickness (believed or estimated from the count) and kernel come from the image header:
  // final only when the PACS read one, so SliceThickness, empty or lying, is what the
  // filter will read too.
  if (v.rule == "slice_thickness" || v.rule == "kernel") return header_known(attrs, thickness_answered) ? v.reason : "";
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

// The series answer as the rules read it: the study's description and character set added
// where the series answer has none.
core::AttributeMap with_study(const core::AttributeMap& s, const core::AttributeMap& study) {
  core::AttributeMap attrs = s;
  for (const char* k : {"StudyDescription", "SpecificCharacterSet"})
    if (attrs.trimmed(k).empty() && !study.trimmed(k).empty()) attrs.set(k, study.trimmed(k));
  return attrs;
}

}  // namespace

bool wants_sample(const rules::RuleSet& rs, const core::AttributeMap& series, const core::AttributeMap& study,
                  long min_instances) {
  if (header_answered(series) || rules::family_of(rs, series.trimmed("Modality")) != rules::Family::Ct) return false;
  const std::optional<long> n = series.integer("NumberOfSeriesRelatedInstances");
  if (!n || *n < min_instances) return false;
  const core::AttributeMap attrs = with_study(series, study);
  const rules::Verdict v = rules::evaluate(rs, rules::Level::Series, attrs);
  // Left behind already for a reason the header cannot undo: the sample would not pay.
  return v.pass || safe_drop(v, attrs, false).empty();
}

std::optional<std::string> sample_instance(const std::vector<core::AttributeMap>& images) {
  std::vector<std::pair<long, std::string>> numbered;
  std::optional<std::string> first;
  for (const auto& i : images) {
    std::string sop = i.trimmed("SOPInstanceUID");
    if (sop.empty()) continue;
    if (!first) first = sop;
    if (auto n = i.integer("InstanceNumber")) numbered.emplace_back(*n, std::move(sop));
  }
  if (numbered.empty()) return first;
  std::sort(numbered.begin(), numbered.end());
  return numbered[(numbered.size() - 1) / 2].second;
}

namespace {
constexpr const char* kSampleTexts[] = {"SeriesDescription", "BodyPartExamined", "ProtocolName"};
}  // namespace

void merge_sample(core::AttributeMap& series, const core::AttributeMap& header) {
  for (const char* k : kHeaderKeys) series.set(k, std::string(header.get(k).value_or("")));
  std::vector<const char*> taken;
  for (const char* k : kSampleTexts)
    if (series.trimmed(k).empty() && !header.trimmed(k).empty()) taken.push_back(k);
  if (taken.empty()) return;
  const std::string answer_cs = series.trimmed("SpecificCharacterSet");
  const std::string header_cs = header.trimmed("SpecificCharacterSet");
  bool own_non_ascii = false;
  for (const auto& [k, v] : series.all())
    if (k != "SpecificCharacterSet" && rules::needs_raw_record(v)) own_non_ascii = true;
  if (answer_cs == header_cs || !own_non_ascii) {
    for (const char* k : taken) series.set(k, std::string(*header.get(k)));
    series.set("SpecificCharacterSet", std::string(header.get("SpecificCharacterSet").value_or("")));
    return;
  }
  // Two character sets in one answer: each text decoded under its own, all held as UTF-8.
  std::vector<std::pair<std::string, std::string>> converted;
  for (const auto& [k, v] : series.all())
    if (k != "SpecificCharacterSet" && rules::needs_raw_record(v))
      converted.emplace_back(k, rules::Text::decode(v, answer_cs).str());
  for (const char* k : taken) converted.emplace_back(k, rules::Text::decode(*header.get(k), header_cs).str());
  for (auto& [k, v] : converted) series.set(k, std::move(v));
  series.set("SpecificCharacterSet", "ISO_IR 192");
}

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
  std::vector<rules::SeriesCandidate> known;  // kept CT series judged on full information
  const bool thickness_answered = std::any_of(series.begin(), series.end(), [](const core::AttributeMap& s) {
    return header_answered(s) && !s.trimmed("SliceThickness").empty();
  });
  bool all_judged_fully = true;  // every dropped series judged on full information
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
    core::AttributeMap attrs = with_study(s, study);
    rules::Verdict v = rules::evaluate(rs, rules::Level::Series, attrs);
    std::string why = safe_drop(v, attrs, thickness_answered);
    if (why.empty() && !v.pass && v.rule == "chest") {
      // The query cannot see every chest source: judge the rest as if it were chest.
      core::AttributeMap as_chest = attrs;
      as_chest.set("BodyPartExamined", "CHEST");
      why = safe_drop(rules::evaluate(rs, rules::Level::Series, as_chest), as_chest, thickness_answered);
      if (why.rfind("filter because BodyPartExamined", 0) == 0) why.clear();
    }
    if (!why.empty()) {
      // Fully judged: the PACS read this CT series' image header and counted it, or the
      // series is of a modality no rule family takes. Anything less keeps the study moving.
      if (rules::family_of(rs, attrs.trimmed("Modality")) != rules::Family::Other &&
          !header_known(attrs, thickness_answered))
        all_judged_fully = false;
      out.dropped.emplace_back(uid, why);
      continue;
    }
    kept.push_back(uid);
    if (v.pass && v.family == rules::Family::Ct && header_known(attrs, thickness_answered)) {
      // Everything the filter reads on the first image is known: a candidate for the
      // selection the filter will make (the thinnest; ties by its own order).
      rules::SeriesCandidate c;
      c.uid = core::SeriesUid(uid);
      c.family = v.family;
      c.passed = true;
      c.slice_thickness = v.slice_thickness;
      c.instance_count = *attrs.integer("NumberOfSeriesRelatedInstances");
      c.kernel = attrs.trimmed("ConvolutionKernel");
      c.description = attrs.trimmed("SeriesDescription");
      c.series_number = attrs.integer("SeriesNumber").value_or(0);
      known.push_back(std::move(c));
    }
  }
  // Selection ahead of the move: of the CT series the filter will judge exactly as we do,
  // only the one it will select is ever handed on, so the others known to pass need not
  // travel. A series we could not judge fully stays (it might still be selected).
  if (known.size() > 1) {
    rules::Selection sel = rules::select_series(rs, known);
    if (sel.series.size() == 1 && !sel.whole_study) {
      const std::string chosen = sel.series.front().str();
      for (const auto& c : known) {
        if (c.uid.str() == chosen) continue;
        kept.erase(std::remove(kept.begin(), kept.end(), c.uid.str()), kept.end());
        out.dropped.emplace_back(c.uid.str(), "passes, but the filter will select series " + chosen + " (" +
                                                  sel.reason + ")");
      }
    }
  }
  for (const auto& uid : kept) {
    auto it = std::find_if(series.begin(), series.end(),
                           [&](const core::AttributeMap& s) { return s.trimmed("SeriesInstanceUID") == uid; });
    auto n = it->integer("NumberOfSeriesRelatedInstances");
    if (n) kept_count += *n;
    else counts_known = false;
  }
  if (kept.empty() && !all_judged_fully) {
    // Final reasons, but a CT series without its header: whole study, the filter decides.
    out.reason = "no series would pass at query time, not every series judged on its header: whole study, the "
                 "filter decides";
    out.dropped.clear();
    return out;
  }
  if (kept.empty()) {
    // Every series was left behind for a reason the filter reaches on its first image too
    // (safe_drop), each CT series with its image header read by the PACS and its count
    // known (a series in doubt would have been kept, and the DX family returned whole
    // above): the filter would settle the study unsupported. It is not moved; the caller
    // records each series' reason.
    out.none_pass = true;
    out.reason = "no series can pass (" + std::to_string(series.size()) +
                 " series, each judged on full information at series level): unsupported, not moved";
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
