#include <catch2/catch.hpp>

#include "pacspull/core/time.hpp"

using namespace pacspull::core;

TEST_CASE("ISO instants format and parse back") {
  Time t = Time(std::chrono::sys_days{std::chrono::year{2020} / 6 / 12} + std::chrono::hours(8) +
                std::chrono::minutes(30) + std::chrono::seconds(15));
  CHECK(format_iso(t) == "2020-06-12T08:30:15Z");
  CHECK(parse_iso("2020-06-12T08:30:15Z") == t);
  CHECK_FALSE(parse_iso("2020-06-12T08:30:15").has_value());
  CHECK_FALSE(parse_iso("2020-02-30T08:30:15Z").has_value());
  CHECK_FALSE(parse_iso("2020-06-12T24:30:15Z").has_value());
}
