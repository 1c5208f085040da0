// One RIS order from its scheduled procedure steps (issue 9 part 9): a worklist answers one
// item per step; the steps of one AccessionNumber merge into one order (union of body
// parts, highest priority, earliest schedule), never across AccessionNumbers.
#include <catch2/catch.hpp>

#include "pacspull/pipeline/ris_orders.hpp"

using namespace pacspull;
using pipeline::RisStep;

namespace {
RisStep step(std::string accession, std::string key, std::vector<std::string> parts, std::string priority,
             std::string date = "20261201", long long at = 0, std::string patient = "P1") {
  RisStep s;
  s.ris = "ris";
  s.accession = std::move(accession);
  s.step_key = std::move(key);
  s.patient_id = std::move(patient);
  s.body_parts = std::move(parts);
  s.body_parts_raw = pipeline::join_body_parts(s.body_parts);
  s.priority = std::move(priority);
  s.scheduled_date = std::move(date);
  if (at != 0) s.scheduled_at = core::Time{} + std::chrono::seconds(at);
  return s;
}
}  // namespace

TEST_CASE("A chest step and an abdomen step of one accession: one order with both body parts") {
  auto orders = pipeline::merge_ris_steps({step("A1", "RP1/SPS1", {"CT CHEST", "XB01"}, "ROUTINE", "20261201", 2000),
                                           step("A1", "RP1/SPS2", {"CT ABDOMEN", "XB01"}, "ROUTINE", "20261201", 1000)});
  REQUIRE(orders.size() == 1);
  const auto& o = orders[0];
  CHECK(o.accession == "A1");
  CHECK(o.body_parts == std::vector<std::string>{"CT CHEST", "XB01", "CT ABDOMEN"});
  CHECK(pipeline::join_body_parts(o.body_parts) == "CT CHEST | XB01 | CT ABDOMEN");
  CHECK(o.body_parts_raw == "CT CHEST | XB01 | CT ABDOMEN | XB01");  // each step's bytes, as received
  CHECK(o.step_keys == std::vector<std::string>{"RP1/SPS1", "RP1/SPS2"});
  CHECK(o.priority == "ROUTINE");
  REQUIRE(o.scheduled_at);
  CHECK(*o.scheduled_at == core::Time{} + std::chrono::seconds(1000));  // the earliest step
}

TEST_CASE("The highest priority of the steps wins, whatever their order") {
  for (auto [a, b, want] : {std::tuple{"ROUTINE", "STAT", "STAT"}, {"STAT", "ROUTINE", "STAT"}, {"HIGH", "STAT", "STAT"},
                            {"LOW", "MEDIUM", "MEDIUM"}, {"", "ROUTINE", "ROUTINE"}, {"URGENT?", "", "URGENT?"},
                            {"URGENT?", "LOW", "LOW"}, {"ROUTINE", "HIGH", "HIGH"}}) {
    auto orders = pipeline::merge_ris_steps({step("A1", "s1", {"CT CHEST"}, a), step("A1", "s2", {"CT CHEST"}, b)});
    REQUIRE(orders.size() == 1);
    CHECK(orders[0].priority == want);
    CHECK(orders[0].body_parts == std::vector<std::string>{"CT CHEST"});  // two chest steps: the text once
  }
  CHECK(pipeline::is_urgent("STAT"));
  CHECK(pipeline::is_urgent("HIGH"));
  CHECK_FALSE(pipeline::is_urgent("MEDIUM"));
  CHECK_FALSE(pipeline::is_urgent(""));
}

TEST_CASE("Steps never merge across accessions or RIS, even of the same patient and day") {
  auto chest = step("A1", "s1", {"CT CHEST"}, "ROUTINE");
  auto abdomen = step("A2", "s1", {"CT ABDOMEN"}, "STAT");
  auto other_ris = step("A1", "s1", {"CT HEAD"}, "HIGH");
  other_ris.ris = "ris2";
  auto orders = pipeline::merge_ris_steps({chest, abdomen, other_ris});
  REQUIRE(orders.size() == 3);
  CHECK(orders[0].accession == "A1");
  CHECK(orders[0].ris == "ris");
  CHECK(orders[0].body_parts == std::vector<std::string>{"CT CHEST"});
  CHECK(orders[0].priority == "ROUTINE");  // the abdomen order's STAT is its own
  CHECK(orders[1].accession == "A2");
  CHECK(orders[1].body_parts == std::vector<std::string>{"CT ABDOMEN"});
  CHECK(orders[2].ris == "ris2");
  CHECK(orders[2].body_parts == std::vector<std::string>{"CT HEAD"});
}

TEST_CASE("A step polled twice counts once, its later copy winning") {
  auto first = step("A1", "s1", {"CT ABDOMEN"}, "ROUTINE");
  auto corrected = step("A1", "s1", {"CT CHEST"}, "STAT");  // the RIS corrected the step
  auto orders = pipeline::merge_ris_steps({first, step("A1", "s2", {"CT PELVIS"}, "LOW"), corrected});
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].body_parts == std::vector<std::string>{"CT CHEST", "CT PELVIS"});
  CHECK(orders[0].priority == "STAT");
  CHECK(orders[0].step_keys == std::vector<std::string>{"s1", "s2"});
}

TEST_CASE("Patient ids: the first non-empty one; another one is reported, not merged away") {
  auto orders = pipeline::merge_ris_steps({step("A1", "s1", {"CT CHEST"}, "ROUTINE", "20261201", 0, ""),
                                           step("A1", "s2", {"CT CHEST"}, "ROUTINE", "20261201", 0, "P1"),
                                           step("A1", "s3", {"CT CHEST"}, "ROUTINE", "20261201", 0, "P9")});
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].patient_id == "P1");
  CHECK(orders[0].patient_id_conflicts == std::vector<std::string>{"P9"});
}

TEST_CASE("Schedules: a known time beats none, then the earliest date") {
  auto orders = pipeline::merge_ris_steps({step("A1", "s1", {"X"}, "", "20261202"), step("A1", "s2", {"Y"}, "", "20261201"),
                                           step("A1", "s3", {"Z"}, "", "20261203", 5000)});
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].scheduled_date == "20261203");
  auto dates = pipeline::merge_ris_steps({step("A1", "s1", {"X"}, "", "20261202"), step("A1", "s2", {"Y"}, "", "20261201")});
  CHECK(dates[0].scheduled_date == "20261201");
}

TEST_CASE("Step keys: the RIS's ids when it sends them, else the step's texts and schedule") {
  CHECK(pipeline::ris_step_key("RP1", "SPS2", "CT CHEST", "20261201", "101500") == "RP1/SPS2");
  CHECK(pipeline::ris_step_key("", "SPS2", "CT CHEST", "20261201", "101500") == "/SPS2");
  const auto a = pipeline::ris_step_key("", "", "CT CHEST", "20261201", "101500");
  const auto b = pipeline::ris_step_key("", "", "CT ABDOMEN", "20261201", "101500");
  CHECK(a != b);
  CHECK(a == pipeline::ris_step_key("", "", "CT CHEST", "20261201", "101500"));
  // Two unnamed steps of one accession stay two steps in the merge.
  auto orders = pipeline::merge_ris_steps({step("A1", a, {"CT CHEST"}, "ROUTINE"), step("A1", b, {"CT ABDOMEN"}, "HIGH")});
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].body_parts.size() == 2);
  CHECK(orders[0].priority == "HIGH");
}

TEST_CASE("No steps, no orders") { CHECK(pipeline::merge_ris_steps({}).empty()); }
