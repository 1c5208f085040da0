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

namespace {
RisStep with_status(RisStep s, std::string status) {
  s.status = std::move(status);
  return s;
}
}  // namespace

TEST_CASE("Cancelled or discontinued steps: trimmed, case-insensitive; every other status counts") {
  for (const char* s : {"CANCELED", "canceled", " Canceled ", "CANCELLED", "DISCONTINUED", "discontinued\t", "\tCANCELED\r\n"})
    CHECK(pipeline::is_cancelled_step_status(s));
  for (const char* s : {"", "SCHEDULED", "ARRIVED", "READY", "STARTED", "COMPLETED", "CANCEL", "NOT CANCELED", "DISCONT"})
    CHECK_FALSE(pipeline::is_cancelled_step_status(s));
}

TEST_CASE("A cancelled step leaves the merge: its body parts, its priority, its schedule") {
  auto chest = step("A1", "RP1/SPS1", {"CT CHEST"}, "ROUTINE", "20261201", 2000);
  auto abdomen = step("A1", "RP1/SPS2", {"CT ABDOMEN"}, "STAT", "20261201", 1000);
  abdomen.specific_character_set = "GB18030";
  for (const char* status : {"CANCELED", " discontinued "}) {
    INFO(status);
    auto orders = pipeline::merge_ris_steps({chest, with_status(abdomen, status)});
    REQUIRE(orders.size() == 1);
    const auto& o = orders[0];
    CHECK(o.body_parts == std::vector<std::string>{"CT CHEST"});
    CHECK(o.body_parts_raw == "CT CHEST");
    CHECK(o.priority == "ROUTINE");
    CHECK_FALSE(pipeline::is_urgent(o.priority));
    REQUIRE(o.scheduled_at);
    CHECK(*o.scheduled_at == core::Time{} + std::chrono::seconds(2000));  // the chest step's, not the earlier cancelled one
    CHECK(o.specific_character_set.empty());                             // only the cancelled step declared one
    CHECK(o.step_keys == std::vector<std::string>{"RP1/SPS1"});
    CHECK(o.cancelled_step_keys == std::vector<std::string>{"RP1/SPS2"});
  }
  // Whatever the order of the steps: the cancelled one first changes nothing.
  auto first = pipeline::merge_ris_steps({with_status(abdomen, "CANCELED"), chest});
  REQUIRE(first.size() == 1);
  CHECK(first[0].body_parts == std::vector<std::string>{"CT CHEST"});
  CHECK(first[0].priority == "ROUTINE");
  CHECK(*first[0].scheduled_at == core::Time{} + std::chrono::seconds(2000));
  CHECK(first[0].patient_id == "P1");
  CHECK(first[0].step_keys == std::vector<std::string>{"RP1/SPS1"});
  // Other statuses count as before.
  auto started = pipeline::merge_ris_steps({chest, with_status(abdomen, "STARTED")});
  CHECK(started[0].priority == "STAT");
  CHECK(started[0].body_parts.size() == 2);
  CHECK(started[0].cancelled_step_keys.empty());
}

TEST_CASE("A step cancelled between two polls leaves the order; put back, it counts again") {
  auto chest = step("A1", "s1", {"CT CHEST"}, "ROUTINE");
  auto stat = step("A1", "s2", {"CT CHEST", "CT ABDOMEN"}, "STAT");
  // The ledger hands the merge every stored step; a step polled again is its later copy.
  auto orders = pipeline::merge_ris_steps({chest, stat, with_status(stat, "CANCELED")});
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].priority == "ROUTINE");
  CHECK(orders[0].body_parts == std::vector<std::string>{"CT CHEST"});  // the chest text stays: s1 names it too
  CHECK(orders[0].cancelled_step_keys == std::vector<std::string>{"s2"});
  auto back = pipeline::merge_ris_steps({chest, with_status(stat, "CANCELED"), with_status(stat, "SCHEDULED")});
  CHECK(back[0].priority == "STAT");
  CHECK(back[0].cancelled_step_keys.empty());
}

TEST_CASE("An order whose every step is cancelled: no body parts, no priority, still whose and when") {
  auto a = with_status(step("A1", "s1", {"CT CHEST"}, "STAT", "20261202", 0, "P7"), "CANCELED");
  auto b = with_status(step("A1", "s2", {"CT ABDOMEN"}, "HIGH", "20261201", 0, "P7"), "DISCONTINUED");
  auto orders = pipeline::merge_ris_steps({a, b});
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].body_parts.empty());
  CHECK(orders[0].body_parts_raw.empty());
  CHECK(orders[0].priority.empty());
  CHECK(orders[0].step_keys.empty());
  CHECK(orders[0].cancelled_step_keys == std::vector<std::string>{"s1", "s2"});
  CHECK(orders[0].patient_id == "P7");
  CHECK(orders[0].scheduled_date == "20261201");
  CHECK(orders[0].patient_id_conflicts.empty());
  // A cancelled step naming another patient is no conflict: it does not count.
  auto other = with_status(step("A2", "s1", {"CT CHEST"}, "ROUTINE", "20261201", 0, "P9"), "CANCELED");
  auto mixed = pipeline::merge_ris_steps({other, step("A2", "s2", {"CT CHEST"}, "ROUTINE", "20261201", 0, "P1")});
  CHECK(mixed[0].patient_id == "P1");
  CHECK(mixed[0].patient_id_conflicts.empty());
}
