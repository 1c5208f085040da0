#include "pacspull/pipeline/modalities.hpp"

#include <algorithm>
#include <cctype>

#include "pacspull/core/attributes.hpp"

namespace pacspull::pipeline {
namespace {

std::string upper(std::string_view s) {
  std::string out(core::trim_dicom(s));
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool has(const std::vector<std::string>& list, const std::string& m) {
  return std::find(list.begin(), list.end(), m) != list.end();
}

}  // namespace

std::vector<std::string> rule_modalities(const rules::RuleSet& rs) {
  std::vector<std::string> out;
  auto add = [&](const std::string& m) {
    std::string u = upper(m);
    if (!u.empty() && !has(out, u)) out.push_back(u);
  };
  if (rs.ct.enabled)
    for (const auto& m : rs.ct.modalities) add(m);
  if (rs.dx.enabled)
    for (const auto& m : rs.dx.enabled_modalities)
      if (rules::family_of(rs, m) == rules::Family::Dx) add(m);
  return out;
}

std::vector<std::string> modality_warnings(const rules::RuleSet& rs, const std::vector<std::string>& queried) {
  std::vector<std::string> warnings;
  std::vector<std::string> asked;
  for (const auto& q : queried) asked.push_back(upper(q));
  std::vector<std::string> accepted = rule_modalities(rs);
  for (const auto& m : accepted) {
    if (has(asked, m)) continue;
    bool ct = rules::family_of(rs, m) == rules::Family::Ct;
    warnings.push_back("the rules enable " + m + " (" + (ct ? "rules.ct.modalities" : "rules.dx.enabled_modalities") +
                       ") but finder.modalities does not query it: its studies are never found");
  }
  for (const auto& q : asked) {
    if (q.empty() || has(accepted, q)) continue;
    std::string why;
    switch (rules::family_of(rs, q)) {
      case rules::Family::Ct:
        why = "rules.ct.enabled is false";
        break;
      case rules::Family::Dx:
        why = rs.dx.enabled ? "it is not in rules.dx.enabled_modalities" : "rules.dx.enabled is false";
        break;
      default:
        why = "no rule family lists it";
        break;
    }
    warnings.push_back("finder.modalities queries " + q + " but " + why +
                       ": its studies are found and then filtered out at study level");
  }
  return warnings;
}

}  // namespace pacspull::pipeline
