#pragma once
// The filter rule engine: which studies/series are chest CT or chest DX worth pulling
// and computing, and which series of a study to hand on. Pure functions over
// core::AttributeMap; every decision is a Verdict value carrying its reason, the rule
// that decided, the attributes it looked at and the version of the rule set.
//
// Thread-safety: all functions are pure and may be called concurrently; a RuleSet is
// read-only during evaluation.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pacspull/core/attributes.hpp"
#include "pacspull/core/ids.hpp"

namespace pacspull::rules {

enum class Family { Unknown, Ct, Dx, Other };
enum class Level { Study, Series, Instance };
enum class KernelWindow { None, Lung, Mediastinal };

std::string_view to_string(Family f) noexcept;
std::string_view to_string(Level l) noexcept;
std::string_view to_string(KernelWindow w) noexcept;

// Convolution kernel classes (ConvolutionKernel first value, compared case-insensitively:
// equal to a listed token, or starting with it when the token has 3+ characters, so
// "B70f" is lung by "B70").
struct KernelPreference {
  KernelWindow prefer = KernelWindow::None;  // ranks series in selection and re-dispatch
  bool require = false;                      // filter series of the other window (unknown kernels pass)
  bool over_thickness = false;               // preference outranks thinness (else it breaks ties only)
  std::vector<std::string> lung_kernels{"LUNG", "BONE", "BONEPLUS", "SHARP", "DETAIL", "B60", "B70", "B80",
                                        "BR60", "BR64", "BL57", "BL64", "I70", "FC51", "FC52", "FC53",
                                        "FC55", "FC56", "FC86", "YA", "YB", "YC", "L"};
  std::vector<std::string> mediastinal_kernels{"STANDARD", "STND", "SOFT", "B20", "B30", "B31", "B40", "B41",
                                               "BR36", "BR40", "I30", "I31", "I40", "FC08", "FC10", "FC13",
                                               "FC17", "FC18", "A", "B"};
};

struct CtRules {
  bool enabled = true;
  std::vector<std::string> modalities{"CT"};
  std::vector<std::string> extra_keywords;  // device-specific chest tokens for CT only (e.g. "STND")
  long min_instances = 10;                  // fewer => scout/localizer, not computed
  double max_slice_thickness = 5.0;         // thicker => filtered ("filter because SliceThickness 8")
  bool require_thin = false;                // sites that compute thin slices only
  double thin_slice_thickness = 2.0;        // the bound when require_thin
  double sane_slice_thickness_max = 20.0;   // SliceThickness outside (0, this] is not believed
  double assumed_coverage_mm = 300.0;       // thickness estimate = coverage / instance count
  bool check_image_type = true;
  std::vector<std::string> image_type_required{"ORIGINAL", "PRIMARY"};  // values 1 and 2, in order
  std::vector<std::string> image_type_scan{"AXIAL", "HELICAL"};         // one of them must appear
  std::vector<std::string> image_type_excluded{"DERIVED", "SECONDARY", "LOCALIZER", "MPR", "3D", "MIP", "REFORMATTED"};
  // Whole words in SeriesDescription that mark reconstructions/scouts.
  std::vector<std::string> excluded_description_words{"MPR", "MIP", "3D", "VR", "VRT", "LOCALIZER", "SCOUT",
                                                      "TOPOGRAM", "SURVIEW"};
  bool require_contrast = false;
  std::vector<std::string> contrast_keywords{"C+", "+C", "ENHANCE", "CONTRAST", "增强"};
  KernelPreference kernel;
};

struct DxRules {
  bool enabled = true;
  std::vector<std::string> modalities{"DX", "DR", "CR", "RF", "OT"};  // the family
  std::vector<std::string> enabled_modalities{"DX", "DR", "CR"};      // RF/OT are rare: opt in
  std::vector<std::string> extra_keywords;
};

struct RisRules {
  bool enabled = true;     // use RIS body parts when the caller has them
  bool tolerance = false;  // pass if any of the patient's exams that day is chest
  std::vector<std::string> extra_keywords;  // hospital exam codes meaning chest (e.g. "XB01")
};

struct RuleSet {
  std::vector<std::string> chest_keywords{"CHEST", "THORAX", "LUNG", "胸", "肺"};
  std::vector<std::string> extra_keywords;  // site additions, both families
  // A study whose ModalitiesInStudy (and Modality) is empty: pass to series level or filter.
  bool study_pass_without_modalities = false;
  CtRules ct;
  DxRules dx;
  RisRules ris;

  // Stable hash of the whole content ("r1-" + 16 hex digits); equal content, equal version.
  std::string version() const;
  // The canonical text the version hashes (one "key=value" per line); useful in logs.
  std::string canonical() const;
};

struct Context {
  std::optional<long> instance_count;  // overrides NumberOfSeriesRelatedInstances
  // UTF-8 exam body parts from the RIS: this study's exam(s); in tolerance mode callers
  // may put all of the patient's exams of the day here or in ris_day_body_parts.
  std::vector<std::string> ris_body_parts;
  std::vector<std::string> ris_day_body_parts;  // used only when RuleSet::ris.tolerance
  std::optional<long> manual_series_number;     // doctor-given: bypasses the rules
};

struct Verdict {
  bool pass = false;
  std::string rule;    // "manual_series", "modality", "ris", "chest", "image_type", "scout",
                       // "slice_thickness", "contrast", "kernel", or "all" on pass
  std::string reason;  // field-notes style: "filter because BodyPartExamined HAND"
  std::vector<std::pair<std::string, std::string>> looked_at;  // attribute -> decoded value
  Family family = Family::Unknown;
  std::optional<double> slice_thickness;  // believed or estimated thickness (CT), if any
  std::string rule_version;
  std::string charset_reading;  // reading whose text matched the chest keyword, if any
};

Family family_of(const RuleSet& rs, std::string_view modality);
Verdict evaluate(const RuleSet& rs, Level level, const core::AttributeMap& attrs, const Context& ctx = {});

// Classifies a ConvolutionKernel value (first of its values) by the site's kernel lists.
KernelWindow kernel_window(const RuleSet& rs, std::string_view kernel);

struct SeriesCandidate {
  core::SeriesUid uid;
  Family family = Family::Unknown;
  bool passed = false;
  std::optional<double> slice_thickness;  // Verdict::slice_thickness
  long instance_count = 0;
  std::string kernel;
  std::string description;
  long series_number = 0;
};

struct Selection {
  std::vector<core::SeriesUid> series;  // empty => nothing to compute ("study is filtered out")
  bool whole_study = false;
  std::string reason;
};

// CT: the thinnest passed series (ties: kernel preference, more instances, lower series
// number, UID). DX family: the whole study (every candidate). CT wins if both are present.
Selection select_series(const RuleSet& rs, const std::vector<SeriesCandidate>& candidates);
// Whether `later` should replace the already dispatched series: it passed and is thinner
// (or the site's kernel preference says so). `why` gets the log line either way.
bool is_better(const RuleSet& rs, const SeriesCandidate& dispatched, const SeriesCandidate& later, std::string* why);

std::string decode_to_utf8(std::string_view raw, std::string_view specific_character_set);

}  // namespace pacspull::rules
