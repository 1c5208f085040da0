// evaluate(): the filter rules of the field notes, one Verdict per call.
#include <cmath>

#include "pacspull/rules/charset.hpp"
#include "pacspull/rules/rules.hpp"
#include "text_match.hpp"

namespace pacspull::rules {
namespace {

using detail::format_mm;
using detail::Keywords;
using detail::upper_ascii;

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

class Evaluator {
 public:
  Evaluator(const RuleSet& rs, Level level, const core::AttributeMap& attrs, const Context& ctx)
      : rs_(rs), level_(level), attrs_(attrs), ctx_(ctx), scs_(attrs.trimmed("SpecificCharacterSet")) {
    verdict_.rule_version = rs.version();
  }

  Verdict run() {
    if (level_ == Level::Study)
      study();
    else
      series();
    return std::move(verdict_);
  }

 private:
  // --- outcome helpers ---
  void fail(std::string rule, std::string reason) {
    verdict_.pass = false;
    verdict_.rule = std::move(rule);
    verdict_.reason = std::move(reason);
  }
  void pass(std::string rule, std::string reason) {
    verdict_.pass = true;
    verdict_.rule = std::move(rule);
    verdict_.reason = std::move(reason);
  }
  void looked(std::string name, std::string value) {
    for (auto& [n, v] : verdict_.looked_at)
      if (n == name) {
        v = std::move(value);
        return;
      }
    verdict_.looked_at.emplace_back(std::move(name), std::move(value));
  }
  std::string decoded(std::string_view keyword) const {
    return decode_to_utf8(attrs_.trimmed(keyword), scs_);
  }

  Keywords chest_keywords(Family f) const {
    Keywords k;
    k.add(rs_.chest_keywords);
    k.add(rs_.extra_keywords);
    if (f == Family::Ct) k.add(rs_.ct.extra_keywords);
    if (f == Family::Dx) k.add(rs_.dx.extra_keywords);
    return k;
  }

  bool family_enabled(Family f, std::string_view modality_upper) const {
    if (f == Family::Ct) return rs_.ct.enabled;
    if (f == Family::Dx) {
      if (!rs_.dx.enabled) return false;
      for (const auto& m : rs_.dx.enabled_modalities)
        if (upper_ascii(m) == modality_upper) return true;
    }
    return false;
  }

  // True when the manual rule decided (either way).
  bool manual_series() {
    if (!ctx_.manual_series_number) return false;
    long wanted = *ctx_.manual_series_number;
    if (level_ == Level::Study) {
      pass("manual_series", "doctor-given series " + std::to_string(wanted) + ": rules bypassed");
      return true;
    }
    auto sn = attrs_.integer("SeriesNumber");
    looked("SeriesNumber", decoded("SeriesNumber"));
    if (sn && *sn == wanted) {
      verdict_.family = family_of(rs_, attrs_.trimmed("Modality"));
      pass("manual_series", "doctor-given series " + std::to_string(wanted) + ": rules bypassed");
    } else {
      fail("manual_series", "filter because SeriesNumber " + (sn ? std::to_string(*sn) : std::string("(empty)")) +
                                " is not the doctor-given " + std::to_string(wanted));
    }
    return true;
  }

  // Returns false when the RIS filtered the study. No RIS data: the flow must not
  // block on a RIS that learns of the exam later, so the rule does not apply.
  bool ris() {
    if (!rs_.ris.enabled) return true;
    std::vector<std::string> parts = ctx_.ris_body_parts;
    if (rs_.ris.tolerance) parts.insert(parts.end(), ctx_.ris_day_body_parts.begin(), ctx_.ris_day_body_parts.end());
    if (parts.empty()) return true;
    // RIS text should be UTF-8; a RIS that hands over GBK is read like any DICOM text.
    auto readings = plausible_readings(join(parts, " | "), "ISO_IR 192");
    const std::string& joined = readings.front().text;
    looked("RIS body parts", joined);
    Keywords k;
    k.add(rs_.chest_keywords);
    k.add(rs_.extra_keywords);
    k.add(rs_.ris.extra_keywords);
    if (detail::match_any_reading(readings, k)) return true;
    fail("ris", "filter because RIS body part " + joined +
                    (rs_.ris.tolerance ? " (tolerance: all exams of the day)" : ""));
    return false;
  }

  void study() {
    if (manual_series()) return;
    auto mods = attrs_.values("ModalitiesInStudy");
    std::string source = "ModalitiesInStudy";
    if (mods.empty()) {
      // Some PACS answer Modality at study level; never rely on it, but use it when it is all there is.
      mods = attrs_.values("Modality");
      if (!mods.empty()) source = "Modality";
    }
    std::string joined = decode_to_utf8(join(mods, "\\"), scs_);
    looked(source, joined);
    if (mods.empty()) {
      if (!rs_.study_pass_without_modalities) {
        fail("modality", "filter because ModalitiesInStudy empty");
        return;
      }
    } else {
      Family first_known = Family::Unknown;
      for (const auto& m : mods) {
        Family f = family_of(rs_, m);
        if (first_known == Family::Unknown || first_known == Family::Other) first_known = f;
        if (family_enabled(f, upper_ascii(m))) {
          verdict_.family = f;
          break;
        }
      }
      if (verdict_.family == Family::Unknown) {
        verdict_.family = first_known;
        fail("modality", "filter because " + source + " " + joined);
        return;
      }
    }
    if (!ris()) return;
    pass("all", mods.empty() ? std::string("pass: ModalitiesInStudy empty, deferred to series level")
                             : "pass: " + source + " " + joined + " contains " + std::string(to_string(verdict_.family)));
  }

  // Chest rule. Returns the description of why it is chest, or nullopt after fail().
  std::optional<std::string> chest(Family family) {
    Keywords k = chest_keywords(family);
    std::string body = attrs_.trimmed("BodyPartExamined");
    bool body_undecodable = false;
    if (!body.empty()) {
      auto readings = plausible_readings(body, scs_);
      looked("BodyPartExamined", readings.front().text);
      if (auto m = detail::match_any_reading(readings, k)) {
        verdict_.charset_reading = m->reading;
        looked("BodyPartExamined", m->text);
        return "BodyPartExamined " + m->text;
      }
      bool any_lossless = false;
      for (const auto& r : readings) any_lossless = any_lossless || r.lossless;
      if (any_lossless) {
        // Under a lying declaration the best reading may be gibberish; the other readings
        // tell the operator what the device probably meant (e.g. GB18030 "腹部").
        std::string reason = "filter because BodyPartExamined " + readings.front().text;
        std::string also;
        for (size_t i = 1; i < readings.size() && i <= 2; ++i)
          if (readings[i].lossless)
            also += (also.empty() ? " (also read as " : ", ") + readings[i].charset + " \"" + readings[i].text + "\"";
        fail("chest", reason + (also.empty() ? "" : also + ")"));
        return std::nullopt;
      }
      // A trusted attribute we cannot read is not evidence either way: fall back to the
      // descriptions, and say so in the reason.
      body_undecodable = true;
    }
    std::vector<std::string_view> sources{"ProtocolName", "StudyDescription", "SeriesDescription"};
    if (level_ == Level::Instance) sources.push_back("ImageComments");
    for (auto name : sources) {
      std::string raw = attrs_.trimmed(name);
      if (raw.empty()) continue;
      auto readings = plausible_readings(raw, scs_);
      looked(std::string(name), readings.front().text);
      if (auto m = detail::match_any_reading(readings, k)) {
        verdict_.charset_reading = m->reading;
        looked(std::string(name), m->text);
        return std::string(name) + " " + m->text;
      }
    }
    std::string names;
    for (auto name : sources) names += (names.empty() ? "" : ", ") + std::string(name);
    fail("chest", std::string("filter because BodyPartExamined ") + (body_undecodable ? "undecodable" : "empty") +
                      " and no chest keyword in " + names);
    return std::nullopt;
  }

  bool image_type() {
    if (!rs_.ct.check_image_type) return true;
    auto values = attrs_.values("ImageType");
    std::string joined = decode_to_utf8(join(values, "\\"), scs_);
    looked("ImageType", joined);
    if (values.empty()) return true;  // not returned by this query: cannot judge here
    for (auto& v : values) v = upper_ascii(v);
    for (const auto& ex : rs_.ct.image_type_excluded) {
      for (const auto& v : values)
        if (v == upper_ascii(ex)) {
          fail("image_type", "filter because ImageType " + joined);
          return false;
        }
    }
    for (size_t i = 0; i < rs_.ct.image_type_required.size(); ++i) {
      if (i >= values.size() || values[i] != upper_ascii(rs_.ct.image_type_required[i])) {
        fail("image_type", "filter because ImageType " + joined);
        return false;
      }
    }
    if (!rs_.ct.image_type_scan.empty()) {
      bool found = false;
      for (const auto& s : rs_.ct.image_type_scan)
        for (const auto& v : values) found = found || v == upper_ascii(s);
      if (!found) {
        fail("image_type", "filter because ImageType " + joined);
        return false;
      }
    }
    return true;
  }

  bool description_words() {
    std::string raw = attrs_.trimmed("SeriesDescription");
    if (raw.empty() || rs_.ct.excluded_description_words.empty()) return true;
    std::string text = decode_to_utf8(raw, scs_);
    std::string folded = fold_case(text);
    for (const auto& w : rs_.ct.excluded_description_words) {
      if (detail::contains_word(folded, fold_case(w))) {
        fail("image_type", "filter because SeriesDescription " + text + " (" + w + ")");
        return false;
      }
    }
    return true;
  }

  std::optional<long> instance_count() {
    std::optional<long> n = ctx_.instance_count;
    if (!n) n = attrs_.integer("NumberOfSeriesRelatedInstances");
    if (n) looked("instances", std::to_string(*n));
    return n;
  }

  bool scout(std::optional<long> count) {
    if (count && *count < rs_.ct.min_instances) {
      fail("scout", "filter because instance nums " + std::to_string(*count) + " < " +
                        std::to_string(rs_.ct.min_instances));
      return false;
    }
    return true;
  }

  bool thickness(std::optional<long> count) {
    std::string raw = decoded("SliceThickness");  // for the record; the number is parsed from the bytes
    looked("SliceThickness", raw);
    auto t = attrs_.decimal("SliceThickness");
    bool believed = t && std::isfinite(*t) && *t > 0 && *t <= rs_.ct.sane_slice_thickness_max;
    double value = 0;
    if (believed) {
      value = *t;
    } else if (count && *count > 0) {
      value = rs_.ct.assumed_coverage_mm / static_cast<double>(*count);
    } else {
      return true;  // neither believable thickness nor count: cannot judge, keep (integrity first)
    }
    verdict_.slice_thickness = value;
    const double limit = rs_.ct.max_slice_thickness;
    const double thin = rs_.ct.thin_slice_thickness;
    constexpr double eps = 1e-6;
    auto estimated = [&] {
      return "SliceThickness " + (raw.empty() ? std::string("empty") : raw) + " not believed, instance nums " +
             std::to_string(*count) + " imply " + format_mm(value) + " mm";
    };
    if (value > limit + eps) {
      fail("slice_thickness", believed ? "filter because SliceThickness " + raw
                                       : "filter because " + estimated() + " > " + format_mm(limit));
      return false;
    }
    if (rs_.ct.require_thin && value > thin + eps) {
      fail("slice_thickness", "filter because " + (believed ? "SliceThickness " + raw : estimated()) +
                                  ", thin slices required (<= " + format_mm(thin) + ")");
      return false;
    }
    return true;
  }

  bool contrast() {
    if (!rs_.ct.require_contrast) return true;
    std::string raw = attrs_.trimmed("SeriesDescription");
    Keywords k;
    k.add(rs_.ct.contrast_keywords);
    if (!raw.empty() && detail::match_any_reading(plausible_readings(raw, scs_), k)) return true;
    fail("contrast", "filter because SeriesDescription " + (raw.empty() ? std::string("empty") : decode_to_utf8(raw, scs_)) +
                         " has no enhancement keyword");
    return false;
  }

  bool kernel() {
    std::string raw = decoded("ConvolutionKernel");
    looked("ConvolutionKernel", raw);
    const auto& pref = rs_.ct.kernel;
    if (!pref.require || pref.prefer == KernelWindow::None) return true;
    KernelWindow w = kernel_window(rs_, raw);
    if (w != KernelWindow::None && w != pref.prefer) {
      fail("kernel", "filter because ConvolutionKernel " + raw + " (" + std::string(to_string(w)) + " window, " +
                         std::string(to_string(pref.prefer)) + " required)");
      return false;
    }
    return true;
  }

  void series() {
    if (manual_series()) return;
    std::string modality = decoded("Modality");
    looked("Modality", modality);
    Family f = family_of(rs_, modality);
    verdict_.family = f;
    if (!family_enabled(f, upper_ascii(modality))) {
      fail("modality", "filter because Modality " + (modality.empty() ? std::string("empty") : modality));
      return;
    }
    if (!ris()) return;
    auto why = chest(f);
    if (!why) return;
    std::string reason = "pass: " + std::string(to_string(f)) + " chest by " + *why;
    if (f == Family::Ct) {  // never apply CT rules to the DX family
      if (!image_type() || !description_words()) return;
      auto count = instance_count();
      if (!scout(count) || !thickness(count) || !contrast() || !kernel()) return;
      if (verdict_.slice_thickness) reason += ", thickness " + format_mm(*verdict_.slice_thickness) + " mm";
      if (count) reason += ", instance nums " + std::to_string(*count);
    }
    pass("all", std::move(reason));
  }

  const RuleSet& rs_;
  Level level_;
  const core::AttributeMap& attrs_;
  const Context& ctx_;
  std::string scs_;
  Verdict verdict_;
};

}  // namespace

Verdict evaluate(const RuleSet& rs, Level level, const core::AttributeMap& attrs, const Context& ctx) {
  return Evaluator(rs, level, attrs, ctx).run();
}

}  // namespace pacspull::rules
