// evaluate(): every rule of the field notes and every field story, as a table.
#include <catch2/catch.hpp>

#include "pacspull/rules/rules.hpp"

using namespace pacspull::rules;
using pacspull::core::AttributeMap;

namespace {

// A chest CT series that passes every default rule; cases change one thing.
AttributeMap good_ct() {
  return {{"Modality", "CT"},
          {"BodyPartExamined", "CHEST "},
          {"ProtocolName", "Routine"},
          {"StudyDescription", "CT"},
          {"SeriesDescription", "1.25mm B70f"},
          {"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"},
          {"SliceThickness", "1.25"},
          {"NumberOfSeriesRelatedInstances", "280"},
          {"ConvolutionKernel", "B70f"},
          {"SeriesNumber", "3"}};
}

AttributeMap with(AttributeMap a, std::initializer_list<std::pair<const char*, const char*>> changes) {
  for (auto [k, v] : changes) a.set(k, v);
  return a;
}

std::string looked(const Verdict& v, const std::string& name) {
  for (const auto& [n, value] : v.looked_at)
    if (n == name) return value;
  return "<not looked at>";
}

struct Case {
  const char* story;
  Level level;
  AttributeMap attrs;
  bool pass;
  const char* rule;
  const char* reason;  // exact reason, or "" to skip the check
};

}  // namespace

TEST_CASE("series rules table") {
  const RuleSet rs;
  const std::vector<Case> cases = {
      {"good chest CT", Level::Series, good_ct(), true, "all", ""},
      {"HAND in BodyPartExamined beats CHEST in descriptions", Level::Series,
       with(good_ct(), {{"BodyPartExamined", "HAND"}, {"SeriesDescription", "CHEST"}, {"ProtocolName", "CHEST"}}),
       false, "chest", "filter because BodyPartExamined HAND"},
      {"BodyPartExamined chest wins over abdomen descriptions", Level::Series,
       with(good_ct(), {{"SeriesDescription", "ABDOMEN"}}), true, "all", ""},
      {"empty BodyPartExamined: SeriesDescription keyword", Level::Series,
       with(good_ct(), {{"BodyPartExamined", ""}, {"SeriesDescription", "Lung 1.0"}}), true, "all", ""},
      {"the '111' StudyDescription is not chest", Level::Series,
       with(good_ct(), {{"BodyPartExamined", ""}, {"StudyDescription", "111"}, {"SeriesDescription", "111"}}),
       false, "chest",
       "filter because BodyPartExamined empty and no chest keyword in ProtocolName, StudyDescription, "
       "SeriesDescription"},
      {"'111' study, chest in ProtocolName", Level::Series,
       with(good_ct(), {{"BodyPartExamined", ""}, {"StudyDescription", "111"}, {"ProtocolName", "Thorax HR"}}),
       true, "all", ""},
      {"thickness 8", Level::Series, with(good_ct(), {{"SliceThickness", "8"}}), false, "slice_thickness",
       "filter because SliceThickness 8"},
      {"thickness 5 is still allowed", Level::Series, with(good_ct(), {{"SliceThickness", "5"}}), true, "all", ""},
      {"thickness 0 judged by count: 280 instances is thin", Level::Series,
       with(good_ct(), {{"SliceThickness", "0"}}), true, "all", ""},
      {"thickness absurd, 40 instances imply 7.5 mm", Level::Series,
       with(good_ct(), {{"SliceThickness", "999"}, {"NumberOfSeriesRelatedInstances", "40"}}), false,
       "slice_thickness",
       "filter because SliceThickness 999 not believed, instance nums 40 imply 7.5 mm > 5"},
      {"thickness missing and count missing: kept", Level::Series,
       with(good_ct(), {{"SliceThickness", ""}, {"NumberOfSeriesRelatedInstances", ""}}), true, "all", ""},
      {"RF is DX family but not enabled", Level::Series, with(good_ct(), {{"Modality", "RF"}}), false, "modality",
       "filter because Modality RF"},
      {"MR is not a wanted family", Level::Series, with(good_ct(), {{"Modality", "MR"}}), false, "modality",
       "filter because Modality MR"},
      {"1 instance < 10 is a scout", Level::Series, with(good_ct(), {{"NumberOfSeriesRelatedInstances", "1"}}),
       false, "scout", "filter because instance nums 1 < 10"},
      {"derived MPR", Level::Series, with(good_ct(), {{"ImageType", "DERIVED\\SECONDARY\\MPR"}}), false,
       "image_type", "filter because ImageType DERIVED\\SECONDARY\\MPR"},
      {"localizer", Level::Series, with(good_ct(), {{"ImageType", "ORIGINAL\\PRIMARY\\LOCALIZER"}}), false,
       "image_type", "filter because ImageType ORIGINAL\\PRIMARY\\LOCALIZER"},
      {"helical is fine", Level::Series, with(good_ct(), {{"ImageType", "ORIGINAL\\PRIMARY\\HELICAL"}}), true,
       "all", ""},
      {"3D reconstruction by description", Level::Series, with(good_ct(), {{"SeriesDescription", "Chest 3D VR"}}),
       false, "image_type", "filter because SeriesDescription Chest 3D VR (3D)"},
      {"ImageType not returned by the query: not judged", Level::Series, with(good_ct(), {{"ImageType", ""}}), true,
       "all", ""},
      {"DX chest: CT rules never apply (1 instance, thick, no ImageType)", Level::Series,
       with(good_ct(), {{"Modality", "DX"}, {"NumberOfSeriesRelatedInstances", "1"}, {"SliceThickness", "30"},
                        {"ImageType", "DERIVED\\PRIMARY"}}),
       true, "all", ""},
      {"CR hand", Level::Series, with(good_ct(), {{"Modality", "CR"}, {"BodyPartExamined", "HAND"}}), false, "chest",
       "filter because BodyPartExamined HAND"},
      {"image comments are a keyword source at instance level", Level::Instance,
       with(good_ct(), {{"BodyPartExamined", ""}, {"SeriesDescription", "1.25"}, {"ImageComments", "chest plain"}}),
       true, "all", ""},
      {"image comments are not looked at series level", Level::Series,
       with(good_ct(), {{"BodyPartExamined", ""}, {"SeriesDescription", "1.25"}, {"ImageComments", "chest plain"}}),
       false, "chest", ""},
  };
  for (const auto& c : cases) {
    INFO(c.story);
    Verdict v = evaluate(rs, c.level, c.attrs);
    INFO(v.reason);
    CHECK(v.pass == c.pass);
    CHECK(v.rule == c.rule);
    if (*c.reason) CHECK(v.reason == c.reason);
    CHECK(v.rule_version == rs.version());
    CHECK_FALSE(v.reason.empty());
  }
}

TEST_CASE("verdict records what it looked at") {
  const RuleSet rs;
  Verdict v = evaluate(rs, Level::Series, good_ct());
  CHECK(v.pass);
  CHECK(v.family == Family::Ct);
  CHECK(looked(v, "Modality") == "CT");
  CHECK(looked(v, "BodyPartExamined") == "CHEST");
  CHECK(looked(v, "SliceThickness") == "1.25");
  CHECK(looked(v, "instances") == "280");
  REQUIRE(v.slice_thickness);
  CHECK(*v.slice_thickness == Approx(1.25));
  CHECK(v.charset_reading == "ASCII");

  Verdict est = evaluate(rs, Level::Series, with(good_ct(), {{"SliceThickness", ""}, {"NumberOfSeriesRelatedInstances", "300"}}));
  REQUIRE(est.slice_thickness);
  CHECK(*est.slice_thickness == Approx(1.0));  // 300 mm coverage / 300 instances
}

TEST_CASE("context instance count overrides the query count") {
  const RuleSet rs;
  Context ctx;
  ctx.instance_count = 3;
  Verdict v = evaluate(rs, Level::Instance, good_ct(), ctx);
  CHECK_FALSE(v.pass);
  CHECK(v.reason == "filter because instance nums 3 < 10");
}

TEST_CASE("study level: ModalitiesInStudy by contains") {
  const RuleSet rs;
  struct S {
    const char* mods;
    bool pass;
    Family family;
  };
  for (auto [mods, pass, family] : {S{"CT\\PR", true, Family::Ct}, S{"MG\\CT", true, Family::Ct},
                                     S{"CT", true, Family::Ct}, S{"DX", true, Family::Dx},
                                     S{"PR\\CR", true, Family::Dx}, S{"MG", false, Family::Other},
                                     S{"RF", false, Family::Dx}, S{"MR\\SR", false, Family::Other}}) {
    INFO(mods);
    Verdict v = evaluate(rs, Level::Study, AttributeMap{{"ModalitiesInStudy", mods}, {"StudyDescription", "111"}});
    CHECK(v.pass == pass);
    CHECK(v.family == family);
    if (!pass) CHECK(v.reason == std::string("filter because ModalitiesInStudy ") + mods);
  }
  // StudyDescription "111" never matters at study level; only modality (and RIS) do.
  Verdict empty = evaluate(rs, Level::Study, AttributeMap{{"StudyDescription", "CHEST"}});
  CHECK_FALSE(empty.pass);
  CHECK(empty.reason == "filter because ModalitiesInStudy empty");
  RuleSet lenient;
  lenient.study_pass_without_modalities = true;
  CHECK(evaluate(lenient, Level::Study, AttributeMap{}).pass);
}

TEST_CASE("RF opt-in and disabled families") {
  RuleSet rs;
  rs.dx.enabled_modalities.push_back("RF");
  CHECK(evaluate(rs, Level::Series, with(good_ct(), {{"Modality", "RF"}})).pass);
  rs.ct.enabled = false;
  Verdict v = evaluate(rs, Level::Series, good_ct());
  CHECK_FALSE(v.pass);
  CHECK(v.reason == "filter because Modality CT");
  CHECK(family_of(rs, "CT") == Family::Ct);  // family is classification, not enablement
  CHECK(family_of(rs, " ot ") == Family::Dx);
  CHECK(family_of(rs, "") == Family::Unknown);
  CHECK(family_of(rs, "MR") == Family::Other);
}

TEST_CASE("RIS: abdomen images in a chest exam, tolerance on and off") {
  // One hospital's RIS filed chest images under abdomen exams and vice versa.
  RuleSet rs;
  Context abdomen_exam;
  abdomen_exam.ris_body_parts = {"ABDOMEN"};
  abdomen_exam.ris_day_body_parts = {"ABDOMEN", "CHEST CT"};  // the patient's exams that day

  SECTION("tolerance off: the abdomen exam is filtered at study level") {
    Verdict v = evaluate(rs, Level::Study, AttributeMap{{"ModalitiesInStudy", "CT"}}, abdomen_exam);
    CHECK_FALSE(v.pass);
    CHECK(v.rule == "ris");
    CHECK(v.reason == "filter because RIS body part ABDOMEN");
    CHECK(looked(v, "RIS body parts") == "ABDOMEN");
  }
  SECTION("tolerance on: any exam of the day being chest passes, the series rule still decides") {
    rs.ris.tolerance = true;
    Verdict study = evaluate(rs, Level::Study, AttributeMap{{"ModalitiesInStudy", "CT"}}, abdomen_exam);
    CHECK(study.pass);
    CHECK(evaluate(rs, Level::Series, good_ct(), abdomen_exam).pass);
    Verdict abdomen_images =
        evaluate(rs, Level::Series, with(good_ct(), {{"BodyPartExamined", "ABDOMEN"}}), abdomen_exam);
    CHECK_FALSE(abdomen_images.pass);
    CHECK(abdomen_images.reason == "filter because BodyPartExamined ABDOMEN");
  }
  SECTION("chest exam holding abdomen images: RIS passes, the images do not") {
    Context chest_exam;
    chest_exam.ris_body_parts = {"\xE8\x83\xB8\xE9\x83\xA8" "CT"};  // 胸部CT
    CHECK(evaluate(rs, Level::Study, AttributeMap{{"ModalitiesInStudy", "CT"}}, chest_exam).pass);
    CHECK_FALSE(evaluate(rs, Level::Series, with(good_ct(), {{"BodyPartExamined", "ABDOMEN"}}), chest_exam).pass);
  }
  SECTION("no RIS data yet: never block") {
    CHECK(evaluate(rs, Level::Study, AttributeMap{{"ModalitiesInStudy", "CT"}}, Context{}).pass);
  }
  SECTION("RIS disabled") {
    rs.ris.enabled = false;
    CHECK(evaluate(rs, Level::Study, AttributeMap{{"ModalitiesInStudy", "CT"}}, abdomen_exam).pass);
  }
  SECTION("site RIS codes") {
    rs.ris.extra_keywords = {"XB01"};
    Context coded;
    coded.ris_body_parts = {"XB01"};
    CHECK(evaluate(rs, Level::Study, AttributeMap{{"ModalitiesInStudy", "CT"}}, coded).pass);
  }
}

TEST_CASE("site keywords: device-specific token") {
  RuleSet rs;
  auto stnd = with(good_ct(), {{"BodyPartExamined", ""}, {"SeriesDescription", "STND 1.25"}});
  CHECK_FALSE(evaluate(rs, Level::Series, stnd).pass);
  rs.ct.extra_keywords = {"STND"};
  CHECK(evaluate(rs, Level::Series, stnd).pass);
  // A CT token does not leak into DX.
  CHECK_FALSE(evaluate(rs, Level::Series, with(stnd, {{"Modality", "DX"}})).pass);
  rs.extra_keywords = {"stnd"};  // site-wide, case-insensitive
  CHECK(evaluate(rs, Level::Series, with(stnd, {{"Modality", "DX"}})).pass);
}

TEST_CASE("contrast-enhanced option") {
  RuleSet rs;
  rs.ct.require_contrast = true;
  Verdict plain = evaluate(rs, Level::Series, with(good_ct(), {{"SeriesDescription", "Chest plain 1.25"}}));
  CHECK_FALSE(plain.pass);
  CHECK(plain.rule == "contrast");
  CHECK(plain.reason == "filter because SeriesDescription Chest plain 1.25 has no enhancement keyword");
  CHECK(evaluate(rs, Level::Series, with(good_ct(), {{"SeriesDescription", "Chest C+ 1.25"}})).pass);
  // 增强 (enhanced) in GBK bytes, declared GB18030.
  CHECK(evaluate(rs, Level::Series,
                 with(good_ct(), {{"SeriesDescription", "\xD4\xF6\xC7\xBF 1.25"}, {"SpecificCharacterSet", "GB18030"}}))
            .pass);
  rs.ct.require_contrast = false;
  CHECK(evaluate(rs, Level::Series, with(good_ct(), {{"SeriesDescription", "Chest plain 1.25"}})).pass);
}

TEST_CASE("kernel preference as a requirement") {
  RuleSet rs;
  rs.ct.kernel.prefer = KernelWindow::Lung;
  CHECK(kernel_window(rs, "B70f") == KernelWindow::Lung);
  CHECK(kernel_window(rs, "B30f\\3") == KernelWindow::Mediastinal);
  CHECK(kernel_window(rs, "LUNG") == KernelWindow::Lung);
  CHECK(kernel_window(rs, "XYZ") == KernelWindow::None);
  CHECK(evaluate(rs, Level::Series, with(good_ct(), {{"ConvolutionKernel", "B30f"}})).pass);  // prefer only
  rs.ct.kernel.require = true;
  Verdict v = evaluate(rs, Level::Series, with(good_ct(), {{"ConvolutionKernel", "B30f"}}));
  CHECK_FALSE(v.pass);
  CHECK(v.reason == "filter because ConvolutionKernel B30f (mediastinal window, lung required)");
  CHECK(evaluate(rs, Level::Series, with(good_ct(), {{"ConvolutionKernel", "XYZ"}})).pass);  // unknown passes
}

TEST_CASE("require thin slices") {
  RuleSet rs;
  rs.ct.require_thin = true;
  CHECK(evaluate(rs, Level::Series, good_ct()).pass);
  Verdict v = evaluate(rs, Level::Series, with(good_ct(), {{"SliceThickness", "3"}}));
  CHECK_FALSE(v.pass);
  CHECK(v.reason == "filter because SliceThickness 3, thin slices required (<= 2)");
}

TEST_CASE("doctor-given series number bypasses the rules") {
  const RuleSet rs;
  Context ctx;
  ctx.manual_series_number = 3;
  auto hand_scout = with(good_ct(), {{"BodyPartExamined", "HAND"}, {"NumberOfSeriesRelatedInstances", "1"}});
  Verdict v = evaluate(rs, Level::Series, hand_scout, ctx);
  CHECK(v.pass);
  CHECK(v.rule == "manual_series");
  Verdict other = evaluate(rs, Level::Series, with(good_ct(), {{"SeriesNumber", "4"}}), ctx);
  CHECK_FALSE(other.pass);
  CHECK(other.reason == "filter because SeriesNumber 4 is not the doctor-given 3");
  CHECK(evaluate(rs, Level::Study, AttributeMap{{"ModalitiesInStudy", "MR"}}, ctx).pass);
}

TEST_CASE("chest keywords however the text was encoded") {
  const RuleSet rs;
  auto ct = [](const char* scs, const char* body) {
    return with(good_ct(), {{"SpecificCharacterSet", scs}, {"BodyPartExamined", body}});
  };
  struct C {
    const char* story;
    AttributeMap attrs;
    const char* reading;
  };
  const std::vector<C> cases = {
      {"UTF-8 胸部", ct("ISO_IR 192", "\xE8\x83\xB8\xE9\x83\xA8"), "ISO_IR 192"},
      {"GB18030 declared", ct("GB18030", "\xD0\xD8\xB2\xBF"), "GB18030"},
      {"GB18030 undeclared", ct("", "\xD0\xD8\xB2\xBF"), "GB18030"},
      {"GB18030 declared Latin-1", ct("ISO_IR 100", "\xD0\xD8"), "GB18030"},
      {"mojibake C3 90 C3 98", ct("ISO_IR 192", "\xC3\x90\xC3\x98"), "GB18030 via Latin-1 mojibake"},
      {"肺 in GBK, undeclared", ct("", "\xB7\xCE"), "GB18030"},
  };
  for (const auto& c : cases) {
    INFO(c.story);
    Verdict v = evaluate(rs, Level::Series, c.attrs);
    INFO(v.reason);
    CHECK(v.pass);
    CHECK(v.charset_reading == c.reading);
  }
  RuleSet ru;
  ru.extra_keywords = {"\xD0\x93\xD0\xA0\xD0\xA3\xD0\x94"};  // ГРУД
  // win1251 "грудная клетка" declared ISO_IR 100, in SeriesDescription with empty BodyPartExamined.
  auto rus = with(good_ct(), {{"SpecificCharacterSet", "ISO_IR 100"},
                              {"BodyPartExamined", ""},
                              {"SeriesDescription", "\xE3\xF0\xF3\xE4\xED\xE0\xFF \xEA\xEB\xE5\xF2\xEA\xE0"}});
  Verdict v = evaluate(ru, Level::Series, rus);
  CHECK(v.pass);
  CHECK(v.charset_reading == "windows-1251");
  CHECK(looked(v, "SeriesDescription") ==
        "\xD0\xB3\xD1\x80\xD1\x83\xD0\xB4\xD0\xBD\xD0\xB0\xD1\x8F \xD0\xBA\xD0\xBB\xD0\xB5\xD1\x82\xD0\xBA\xD0\xB0");
  // ISO_IR 144 correctly declared.
  auto iso = with(good_ct(), {{"SpecificCharacterSet", "ISO_IR 144"}, {"BodyPartExamined", "\xB3\xC0\xC3\xB4\xCC"}});
  Verdict vi = evaluate(ru, Level::Series, iso);
  CHECK(vi.pass);
  CHECK(vi.charset_reading == "ISO_IR 144");
}

TEST_CASE("undecodable BodyPartExamined is recorded and falls back to descriptions") {
  const RuleSet rs;
  // Declared UTF-8, bytes neither UTF-8 nor GBK nor win1251 (0x98 is undefined there).
  auto garbled = with(good_ct(), {{"SpecificCharacterSet", "ISO_IR 192"}, {"BodyPartExamined", "\x80\x98\xFF"}});
  Verdict v = evaluate(rs, Level::Series, with(garbled, {{"SeriesDescription", "1.25"}}));
  CHECK_FALSE(v.pass);
  CHECK(v.reason.rfind("filter because BodyPartExamined undecodable", 0) == 0);
  CHECK(evaluate(rs, Level::Series, with(garbled, {{"SeriesDescription", "Chest 1.25"}})).pass);
}

TEST_CASE("rule-set version is a stable content hash") {
  RuleSet a;
  RuleSet b;
  CHECK(a.version() == b.version());
  CHECK(a.version().rfind("r1-", 0) == 0);
  CHECK(a.version().size() == 19);
  b.ct.min_instances = 11;
  CHECK(a.version() != b.version());
  RuleSet c;
  c.chest_keywords = {"CHEST", "THORAX"};
  RuleSet d;
  d.chest_keywords = {"CHESTTHORAX"};
  CHECK(c.version() != d.version());
  CHECK(a.canonical().find("ct.min_instances=10") != std::string::npos);
}

TEST_CASE("a non-chest trusted body part under a lying declaration shows its other readings") {
  const RuleSet rs;
  // 腹部 (abdomen) in GBK, declared ISO_IR 100, chest in the description: the trusted attribute wins.
  auto a = good_ct();
  a.set("SpecificCharacterSet", "ISO_IR 100");
  a.set("BodyPartExamined", "\xB8\xB9\xB2\xBF");
  a.set("SeriesDescription", "CHEST");
  Verdict v = evaluate(rs, Level::Series, a);
  CHECK_FALSE(v.pass);
  CHECK(v.reason.rfind("filter because BodyPartExamined \xC2\xB8\xC2\xB9\xC2\xB2\xC2\xBF", 0) == 0);
  CHECK(v.reason.find("also read as GB18030 \"\xE8\x85\xB9\xE9\x83\xA8\"") != std::string::npos);
}
