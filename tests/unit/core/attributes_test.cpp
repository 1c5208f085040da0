#include <catch2/catch.hpp>

#include "pacspull/core/attributes.hpp"
#include "pacspull/core/ids.hpp"

using namespace pacspull::core;

TEST_CASE("DICOM padding is trimmed and multi-values split") {
  CHECK(trim_dicom(" CT ") == "CT");
  CHECK(trim_dicom(std::string("1.2.3\0", 6)) == "1.2.3");
  CHECK(split_multi("CT\\PR ") == std::vector<std::string>{"CT", "PR"});
  CHECK(split_multi("  ").empty());
  CHECK(split_multi("ORIGINAL\\PRIMARY\\\\AXIAL") == std::vector<std::string>{"ORIGINAL", "PRIMARY", "", "AXIAL"});
}

TEST_CASE("AttributeMap tells absent from empty and parses numbers strictly") {
  AttributeMap a{{"SliceThickness", "1.25 "}, {"NumberOfStudyRelatedInstances", "296"}, {"BodyPartExamined", ""},
                 {"SeriesNumber", "x3"}};
  CHECK(a.get("BodyPartExamined").has_value());
  CHECK_FALSE(a.get("Modality").has_value());
  CHECK(a.decimal("SliceThickness") == Approx(1.25));
  CHECK(a.integer("NumberOfStudyRelatedInstances") == 296);
  CHECK_FALSE(a.integer("SeriesNumber").has_value());
  CHECK_FALSE(a.decimal("Modality").has_value());
}

TEST_CASE("Strong ids compare by value and never mix types") {
  StudyUid a{"1.2"}, b{"1.2"}, c{"1.3"};
  CHECK(a == b);
  CHECK(a < c);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<StudyUid, SeriesUid>);
}
