#include "pacspull/rules_yaml/load_rules.hpp"

#include <fstream>
#include <iterator>
#include <set>

#include "pacspull/rules/text.hpp"

namespace pacspull::rules {
namespace {

std::string where(const std::string& origin, const YAML::Mark& m) {
  if (m.is_null()) return origin;
  return origin + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

[[noreturn]] void bad(const std::string& origin, const YAML::Node& at, const std::string& path, const std::string& msg) {
  throw RulesError(where(origin, at.Mark()) + ": " + path + ": " + msg);
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  return "nothing";
}

// One YAML map of the schema. Every key read through get()/section() is known; finish()
// rejects the rest, so a typo ("min_instance") fails start-up instead of being ignored.
class Section {
 public:
  Section(YAML::Node node, std::string path, const std::string& origin)
      : node_(std::move(node)), path_(std::move(path)), origin_(origin) {
    if (!node_.IsNull() && !node_.IsMap()) bad(origin_, node_, path_, "expected a map, got " + scalar_text(node_));
  }

  void get(const char* key, bool& out) {
    if (auto n = take(key)) {
      bool v = false;
      if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
        bad(origin_, n, child(key), "expected true or false, got " + scalar_text(n));
      out = v;
    }
  }
  void get(const char* key, long& out, long min) {
    if (auto n = take(key)) {
      long v = 0;
      if (!n.IsScalar() || !YAML::convert<long>::decode(n, v))
        bad(origin_, n, child(key), "expected an integer, got " + scalar_text(n));
      if (v < min) bad(origin_, n, child(key), "must be >= " + std::to_string(min) + ", got " + std::to_string(v));
      out = v;
    }
  }
  void get(const char* key, double& out) {
    if (auto n = take(key)) {
      double v = 0;
      if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !(v > 0) || v > 1e6)
        bad(origin_, n, child(key), "expected a positive number (mm), got " + scalar_text(n));
      out = v;
    }
  }
  void get(const char* key, std::vector<std::string>& out) {
    if (auto n = take(key)) {
      if (n.IsNull()) {
        out.clear();
        return;
      }
      if (!n.IsSequence()) bad(origin_, n, child(key), "expected a list of strings, got " + scalar_text(n));
      std::vector<std::string> v;
      for (const auto& item : n) {
        if (!item.IsScalar() || item.Scalar().empty())
          bad(origin_, item, child(key), "expected a non-empty string, got " + scalar_text(item));
        v.push_back(item.Scalar());
      }
      out = std::move(v);
    }
  }
  void get(const char* key, KernelWindow& out) {
    if (auto n = take(key)) {
      std::string s = n.IsScalar() ? n.Scalar() : std::string();
      if (s == "none")
        out = KernelWindow::None;
      else if (s == "lung")
        out = KernelWindow::Lung;
      else if (s == "mediastinal")
        out = KernelWindow::Mediastinal;
      else
        bad(origin_, n, child(key), "expected none, lung or mediastinal, got " + scalar_text(n));
    }
  }
  Section section(const char* key) {
    YAML::Node n = take(key);
    return Section(n ? n : YAML::Node(YAML::NodeType::Null), child(key), origin_);
  }

  void finish() const {
    if (!node_.IsMap()) return;
    for (const auto& kv : node_) {
      std::string key = kv.first.Scalar();
      if (!known_.count(key)) {
        std::string list;
        for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
        bad(origin_, kv.first, path_, "unknown key '" + key + "' (known: " + list + ")");
      }
    }
  }

 private:
  YAML::Node take(const char* key) {
    known_.insert(key);
    if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& map = node_;  // const lookup never inserts the key
    return map[key];
  }
  std::string child(const char* key) const { return path_ + "." + key; }

  YAML::Node node_;
  std::string path_;
  const std::string& origin_;
  std::set<std::string> known_;
};

}  // namespace

RuleSet load_rules(const YAML::Node& rules_node, const std::string& origin) {
  RuleSet rs;
  Section top(rules_node, "rules", origin);
  top.get("chest_keywords", rs.chest_keywords);
  top.get("extra_keywords", rs.extra_keywords);

  Section study = top.section("study");
  study.get("pass_without_modalities", rs.study_pass_without_modalities);
  study.finish();

  Section ris = top.section("ris");
  ris.get("enabled", rs.ris.enabled);
  ris.get("tolerance", rs.ris.tolerance);
  ris.get("extra_keywords", rs.ris.extra_keywords);
  ris.finish();

  Section ct = top.section("ct");
  ct.get("enabled", rs.ct.enabled);
  ct.get("modalities", rs.ct.modalities);
  ct.get("extra_keywords", rs.ct.extra_keywords);
  ct.get("min_instances", rs.ct.min_instances, 0);
  ct.get("max_slice_thickness", rs.ct.max_slice_thickness);
  ct.get("require_thin", rs.ct.require_thin);
  ct.get("thin_slice_thickness", rs.ct.thin_slice_thickness);
  ct.get("sane_slice_thickness_max", rs.ct.sane_slice_thickness_max);
  ct.get("assumed_coverage_mm", rs.ct.assumed_coverage_mm);
  Section it = ct.section("image_types");
  it.get("check", rs.ct.check_image_type);
  it.get("required", rs.ct.image_type_required);
  it.get("scan", rs.ct.image_type_scan);
  it.get("excluded", rs.ct.image_type_excluded);
  it.finish();
  ct.get("excluded_description_words", rs.ct.excluded_description_words);
  ct.get("require_contrast", rs.ct.require_contrast);
  ct.get("contrast_keywords", rs.ct.contrast_keywords);
  Section kp = ct.section("kernel_preference");
  kp.get("prefer", rs.ct.kernel.prefer);
  kp.get("require", rs.ct.kernel.require);
  kp.get("over_thickness", rs.ct.kernel.over_thickness);
  kp.get("lung_kernels", rs.ct.kernel.lung_kernels);
  kp.get("mediastinal_kernels", rs.ct.kernel.mediastinal_kernels);
  kp.finish();
  ct.finish();

  Section dx = top.section("dx");
  dx.get("enabled", rs.dx.enabled);
  dx.get("modalities", rs.dx.modalities);
  dx.get("enabled_modalities", rs.dx.enabled_modalities);
  dx.get("extra_keywords", rs.dx.extra_keywords);
  dx.finish();
  top.finish();

  for (const auto& m : rs.dx.enabled_modalities) {
    bool in_family = false;
    for (const auto& f : rs.dx.modalities) in_family = in_family || f == m;
    if (!in_family)
      throw RulesError(origin + ": rules.dx.enabled_modalities: " + m + " is not in rules.dx.modalities");
  }
  if (rs.chest_keywords.empty() && rs.extra_keywords.empty())
    throw RulesError(origin + ": rules: no chest keywords configured (chest_keywords and extra_keywords both empty)");
  return rs;
}

RuleSet load_rules_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RulesError(path + ": cannot read file");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (auto line = first_bad_utf8_line(text))
    throw RulesError(path + ":" + std::to_string(*line) + ": not valid UTF-8 (save the rules file as UTF-8)");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw RulesError(where(path, e.mark) + ": YAML syntax error: " + e.msg);
  }
  if (!root.IsMap() || !root["rules"]) throw RulesError(path + ": no top-level 'rules:' section");
  return load_rules(root["rules"], path);
}

}  // namespace pacspull::rules
