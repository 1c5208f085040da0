#pragma once
// Loading a RuleSet from the `rules:` section of a site's YAML configuration.
// Start-up code: bad configuration throws RulesError (fail fast), naming the file and
// the line/column of the offending key or value. Schema: libs/rules/README.md.
#include <stdexcept>
#include <string>

#include <yaml-cpp/yaml.h>

#include "pacspull/rules/rules.hpp"

namespace pacspull::rules {

class RulesError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `rules_node` is the value of the `rules:` key (a map, or null for all defaults).
// `origin` names where it came from (a file path) for error messages.
RuleSet load_rules(const YAML::Node& rules_node, const std::string& origin);

// Reads a YAML file whose top level has a `rules:` key (other top-level keys belong to
// other parts of the site config and are ignored). A file without `rules:` is an error.
RuleSet load_rules_file(const std::string& path);

}  // namespace pacspull::rules
