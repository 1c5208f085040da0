#include <catch2/catch.hpp>

#include "pacspull/pipeline/modalities.hpp"

using namespace pacspull;
using Catch::Matchers::Contains;

TEST_CASE("The finder's modalities derive from the enabled rule families") {
  rules::RuleSet rs;
  CHECK(pipeline::rule_modalities(rs) == std::vector<std::string>{"CT", "DX", "DR", "CR"});
  rs.dx.enabled_modalities.push_back("OT");
  CHECK(pipeline::rule_modalities(rs) == std::vector<std::string>{"CT", "DX", "DR", "CR", "OT"});
  rs.ct.enabled = false;
  CHECK(pipeline::rule_modalities(rs) == std::vector<std::string>{"DX", "DR", "CR", "OT"});
  rs.dx.enabled = false;
  CHECK(pipeline::rule_modalities(rs).empty());
  rules::RuleSet lower;
  lower.dx.enabled_modalities = {"dx", "DX", "rf"};
  lower.ct.modalities = {"ct "};
  CHECK(pipeline::rule_modalities(lower) == std::vector<std::string>{"CT", "DX", "RF"});
}

TEST_CASE("No warning when the finder queries exactly what the rules accept") {
  rules::RuleSet rs;
  CHECK(pipeline::modality_warnings(rs, pipeline::rule_modalities(rs)).empty());
  CHECK(pipeline::modality_warnings(rs, {"cr", "DR", "DX", "CT"}).empty());
}

TEST_CASE("OT enabled in the rules but not queried is a warning (external chest films never found)") {
  rules::RuleSet rs;
  rs.dx.enabled_modalities = {"DX", "DR", "CR", "OT"};
  auto w = pipeline::modality_warnings(rs, {"CT", "DX", "CR", "DR"});
  REQUIRE(w.size() == 1);
  CHECK_THAT(w[0], Contains("the rules enable OT") && Contains("finder.modalities does not query it"));
}

TEST_CASE("A queried modality no enabled family accepts is a warning saying why") {
  rules::RuleSet rs;
  auto w = pipeline::modality_warnings(rs, {"CT", "DX", "CR", "DR", "RF", "MR"});
  REQUIRE(w.size() == 2);
  CHECK_THAT(w[0], Contains("queries RF") && Contains("not in rules.dx.enabled_modalities"));
  CHECK_THAT(w[1], Contains("queries MR") && Contains("no rule family lists it"));
  rs.ct.enabled = false;
  w = pipeline::modality_warnings(rs, {"CT", "DX", "CR", "DR"});
  REQUIRE(w.size() == 1);
  CHECK_THAT(w[0], Contains("queries CT") && Contains("rules.ct.enabled is false"));
}
