// Real files: tests/fixtures/charset_samples.py writes DICOM files with mis-declared
// GB2312/win1251/mojibake text (and dumps pydicom's own charset test files); the bytes
// come back from disk into a manifest, and the rules must reach the expected verdicts and
// agree with pydicom's decoding. Label: integration (runs python3 + pydicom).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "pacspull/rules/charset.hpp"
#include "pacspull/rules/rules.hpp"
#include "process.hpp"

using namespace pacspull::rules;
namespace fs = std::filesystem;

namespace {

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// pydicom with Debian's python3-pydicom: /usr/bin/python3 even when another python3
// (pyenv) comes first on PATH.
std::string python() {
  std::string p = pacspull::testing::env_or("PACSPULL_PYTHON", "");
  if (!p.empty()) return p;
  return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

nlohmann::json run_script() {
  fs::path out = pacspull::testing::make_temp_dir("charset_samples");
  fs::path script = fs::path(pacspull::testing::env_or("PACSPULL_SOURCE_DIR", PACSPULL_SOURCE_DIR_FALLBACK)) /
                    "tests/fixtures/charset_samples.py";
  fs::path log = out / "script.log";
  int rc = pacspull::testing::run_command({python(), script.string(), out.string()}, std::chrono::seconds(120), log);
  INFO(pacspull::testing::read_file(log));
  REQUIRE(rc == 0);
  std::ifstream in(out / "manifest.json");
  nlohmann::json manifest = nlohmann::json::parse(in);
  fs::remove_all(out);
  return manifest;
}

// pydicom's str(PersonName) drops empty trailing component groups ("A=B=" -> "A=B").
std::string pn_str(std::string s) {
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("charset samples written to real DICOM files") {
  const nlohmann::json manifest = run_script();
  RuleSet rs;
  rs.extra_keywords = {"\xD0\x93\xD0\xA0\xD0\xA3\xD0\x94"};  // ГРУД: the Russian site's keyword
  size_t samples = 0;
  size_t pydicom_names = 0;
  for (const auto& e : manifest) {
    const std::string file = e.at("file");
    INFO(file);
    if (e.at("kind") == "sample") {
      INFO(e.at("story").get<std::string>());
      pacspull::core::AttributeMap attrs;
      for (const auto& [k, v] : e.at("attributes_hex").items()) attrs.set(k, unhex(v.get<std::string>()));
      for (Level level : {Level::Series, Level::Instance}) {
        Verdict v = evaluate(rs, level, attrs);
        INFO(v.reason);
        CHECK(v.pass == e.at("expect_chest").get<bool>());
        CHECK((v.pass || v.rule == "chest"));
        CHECK(is_valid_utf8(v.reason));
        for (const auto& [name, value] : v.looked_at) CHECK(is_valid_utf8(value));
      }
      ++samples;
    } else {
      std::string raw = pacspull::core::trim_dicom(unhex(e.at("raw_hex")));
      std::string scs = e.at("specific_character_set");
      CHECK(pn_str(decode_to_utf8(raw, scs)) == e.at("expected").get<std::string>());
      ++pydicom_names;
    }
  }
  CHECK(samples >= 12);
  CHECK(pydicom_names >= 15);  // every PatientName pydicom decodes in its charset_files
}
