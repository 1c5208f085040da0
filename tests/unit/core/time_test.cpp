#include <catch2/catch.hpp>

#include "pacspull/core/time.hpp"

using namespace pacspull::core;

TEST_CASE("DICOM DA/TM parse into a time point") {
  auto t = parse_dicom_datetime("20200612", "083015.123");
  REQUIRE(t);
  CHECK(format_iso(*t) == "2020-06-12T08:30:15Z");
  CHECK(format_dicom_date(*t) == "20200612");
  CHECK(format_iso(*parse_dicom_datetime("20200612", "")) == "2020-06-12T00:00:00Z");
  CHECK_FALSE(parse_dicom_datetime("2020-06-12", "").has_value());
  CHECK_FALSE(parse_dicom_datetime("20201332", "").has_value());
}
