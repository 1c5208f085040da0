#pragma once
// One list of modalities: what the finder queries (ModalitiesInStudy, one C-FIND per
// modality) derives from the rule families the site enables, unless the site lists
// finder.modalities itself; then any contradiction with the rules is a start-up warning.
// (Enabling OT in the rules but not querying it used to skip every external chest film
// silently.)
#include <string>
#include <vector>

#include "pacspull/rules/rules.hpp"

namespace pacspull::pipeline {

// The modalities the rules accept at study level, in rule order: ct.modalities when CT
// is enabled, then dx.enabled_modalities (those in dx.modalities) when DX is enabled.
// Upper-case, no duplicates; empty when every family is disabled.
std::vector<std::string> rule_modalities(const rules::RuleSet& rs);

// Contradictions between an explicit finder.modalities and the rules, one sentence
// each: an accepted modality nobody queries (its studies are never found), and a queried
// modality no enabled family accepts (its studies are found and then filtered out).
std::vector<std::string> modality_warnings(const rules::RuleSet& rs, const std::vector<std::string>& queried);

}  // namespace pacspull::pipeline
