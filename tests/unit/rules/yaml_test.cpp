// Loading the `rules:` section: valid files, unknown keys and bad values rejected with
// the file and line.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "pacspull/rules_yaml/load_rules.hpp"

using namespace pacspull::rules;

namespace {
std::string error_of(const std::string& yaml) {
  try {
    load_rules(YAML::Load(yaml)["rules"], "site.yaml");
  } catch (const RulesError& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace

TEST_CASE("valid rules section") {
  const char* yaml = R"(
rules:
  extra_keywords: [STND, "胸部"]
  ris: {enabled: true, tolerance: true, extra_keywords: [XB01]}
  ct:
    min_instances: 20
    max_slice_thickness: 3
    require_thin: true
    thin_slice_thickness: 1.5
    image_types:
      scan: [AXIAL, HELICAL, SPIRAL]
    require_contrast: true
    contrast_keywords: [C+, 增强]
    kernel_preference:
      prefer: lung
      require: false
      over_thickness: true
  dx:
    enabled_modalities: [DX, CR, RF]
)";
  RuleSet rs = load_rules(YAML::Load(yaml)["rules"], "site.yaml");
  CHECK(rs.extra_keywords == std::vector<std::string>{"STND", "\xE8\x83\xB8\xE9\x83\xA8"});
  CHECK(rs.chest_keywords == RuleSet{}.chest_keywords);  // defaults kept
  CHECK(rs.ris.tolerance);
  CHECK(rs.ris.extra_keywords == std::vector<std::string>{"XB01"});
  CHECK(rs.ct.min_instances == 20);
  CHECK(rs.ct.max_slice_thickness == 3.0);
  CHECK(rs.ct.require_thin);
  CHECK(rs.ct.thin_slice_thickness == 1.5);
  CHECK(rs.ct.image_type_scan.size() == 3);
  CHECK(rs.ct.image_type_required == RuleSet{}.ct.image_type_required);
  CHECK(rs.ct.require_contrast);
  CHECK(rs.ct.kernel.prefer == KernelWindow::Lung);
  CHECK(rs.ct.kernel.over_thickness);
  CHECK(rs.dx.enabled_modalities == std::vector<std::string>{"DX", "CR", "RF"});
  CHECK(rs.version() != RuleSet{}.version());
}

TEST_CASE("empty rules section means defaults") {
  RuleSet rs = load_rules(YAML::Load("rules:\n")["rules"], "site.yaml");
  CHECK(rs.version() == RuleSet{}.version());
}

TEST_CASE("unknown key is rejected with file and line") {
  std::string e = error_of("rules:\n  ct:\n    min_instance: 10\n");
  CHECK(e.find("site.yaml:3:5") == 0);
  CHECK(e.find("unknown key 'min_instance'") != std::string::npos);
  CHECK(e.find("rules.ct") != std::string::npos);
  CHECK(error_of("rules:\n  chest: [A]\n").find("site.yaml:2:3: rules: unknown key 'chest'") == 0);
  CHECK(error_of("rules:\n  ct:\n    kernel_preference:\n      prefer: lung\n      favour: x\n").find("site.yaml:5:7") ==
        0);
}

TEST_CASE("bad values are rejected with file and line") {
  std::string e = error_of("rules:\n  ct:\n    min_instances: ten\n");
  CHECK(e.find("site.yaml:3:20: rules.ct.min_instances: expected an integer, got 'ten'") == 0);
  CHECK(error_of("rules:\n  ct:\n    min_instances: -1\n").find("must be >= 0") != std::string::npos);
  CHECK(error_of("rules:\n  ct:\n    max_slice_thickness: 0\n").find("site.yaml:3:26") == 0);
  CHECK(error_of("rules:\n  ris:\n    tolerance: maybe\n").find("expected true or false") != std::string::npos);
  CHECK(error_of("rules:\n  chest_keywords: CHEST\n").find("site.yaml:2:19: rules.chest_keywords: expected a list") ==
        0);
  CHECK(error_of("rules:\n  ct:\n    kernel_preference: {prefer: bone}\n").find("expected none, lung or mediastinal") !=
        std::string::npos);
  CHECK(error_of("rules:\n  ct: [1, 2]\n").find("rules.ct: expected a map") != std::string::npos);
  CHECK(error_of("rules:\n  dx: {enabled_modalities: [MG]}\n").find("MG is not in rules.dx.modalities") !=
        std::string::npos);
  CHECK(error_of("rules:\n  chest_keywords: []\n").find("no chest keywords") != std::string::npos);
}

TEST_CASE("load_rules_file reads the rules: section of a site config") {
  auto dir = std::filesystem::temp_directory_path() / ("pacspull_rules_yaml_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto good = dir / "site.yaml";
  std::ofstream(good) << "site: {name: test}\nrules:\n  ct: {min_instances: 5}\n";
  CHECK(load_rules_file(good.string()).ct.min_instances == 5);

  auto none = dir / "none.yaml";
  std::ofstream(none) << "site: {name: test}\n";
  CHECK_THROWS_WITH(load_rules_file(none.string()), Catch::Contains("no top-level 'rules:' section"));

  auto broken = dir / "broken.yaml";
  std::ofstream(broken) << "rules:\n  ct: {min_instances: [\n";
  CHECK_THROWS_AS(load_rules_file(broken.string()), RulesError);
  CHECK_THROWS_WITH(load_rules_file(broken.string()), Catch::Contains(broken.string() + ":"));

  CHECK_THROWS_WITH(load_rules_file((dir / "missing.yaml").string()), Catch::Contains("cannot read file"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the example in libs/rules/README.md loads") {
  const char* src = std::getenv("PACSPULL_SOURCE_DIR");
  REQUIRE(src != nullptr);
  std::ifstream in(std::filesystem::path(src) / "libs/rules/README.md");
  REQUIRE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto start = text.find("```yaml\n");
  REQUIRE(start != std::string::npos);
  start += 8;
  auto end = text.find("```", start);
  REQUIRE(end != std::string::npos);
  RuleSet rs = load_rules(YAML::Load(text.substr(start, end - start))["rules"], "README.md");
  CHECK(rs.ct.extra_keywords == std::vector<std::string>{"STND"});
  CHECK(rs.ct.min_instances == RuleSet{}.ct.min_instances);
  CHECK(rs.dx.enabled_modalities == RuleSet{}.dx.enabled_modalities);
}
