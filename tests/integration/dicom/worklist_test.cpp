// find_worklist() against a real RIS: DCMTK's wlmscpfs serving worklist files (issue 9
// part 9). Orders read back with priority and scheduled date, a GBK body part without a
// declared charset decoded, UTF-8 under ISO_IR 192, the date window and modality honoured,
// and a RIS that is down or never answers reported within the timeouts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "pacspull/dicom/worklist.hpp"
#include "support.hpp"
#include "worklist_ris.hpp"

using namespace pacspull::dicom;
using pacspull::core::AeTitle;
using pacspull::testing::WorklistEntry;
using pacspull::testing::WorklistRis;

namespace {

ScuOptions options() {
  ScuOptions o;
  o.calling_ae = AeTitle("PACSPULL");
  o.connect_timeout = std::chrono::seconds(3);
  o.acse_timeout = std::chrono::seconds(3);
  o.dimse_timeout = std::chrono::seconds(5);
  return o;
}

Peer peer_of(const WorklistRis& ris) { return Peer{AeTitle(ris.ae_title()), "127.0.0.1", ris.port(), {}}; }

const WorklistOrder* by_accession(const WorklistResult& r, const std::string& accession) {
  for (const auto& o : r.orders)
    if (o.accession_number.str() == accession) return &o;
  return nullptr;
}

bool contains(const std::vector<pacspull::rules::Text>& parts, const std::string& s) {
  return std::any_of(parts.begin(), parts.end(), [&](const auto& t) { return t.str().find(s) != std::string::npos; });
}

}  // namespace

TEST_CASE("worklist C-FIND reads orders, priorities and charsets from wlmscpfs", "[worklist][integration]") {
  WorklistRis ris(pacspull::testing::make_temp_dir("pacspull-wl"), "RIS");
  WorklistEntry stat{.accession = "ACC-STAT", .patient_id = "P1", .procedure_description = "CT CHEST PLAIN",
                     .code_value = "XB01", .code_meaning = "CHEST CT", .step_description = "Chest plain"};
  stat.priority = "STAT";
  stat.time = "081500";
  WorklistEntry gbk{.accession = "ACC-GBK", .patient_id = "P2"};
  gbk.procedure_description = "\xD0\xD8\xB2\xBF" "CT";  // "胸部CT" in GBK, no SpecificCharacterSet
  gbk.priority = "routine";
  WorklistEntry utf8{.accession = "ACC-UTF8", .patient_id = "P3", .procedure_description = "腹部CT"};
  utf8.charset = "ISO_IR 192";
  utf8.priority = "HIGH";
  WorklistEntry dx{.accession = "ACC-DX", .patient_id = "P1", .procedure_description = "CHEST PA", .modality = "DX"};
  WorklistEntry tomorrow{.accession = "ACC-LATER", .patient_id = "P4", .procedure_description = "CT HEAD"};
  tomorrow.date = "20261203";
  for (const auto& e : {stat, gbk, utf8, dx, tomorrow}) ris.add(e);
  ris.start();

  SECTION("any modality, one day") {
    WorklistResult r = find_worklist(options(), peer_of(ris), {"20261201", "20261201", {}});
    REQUIRE_FALSE(r.error);
    REQUIRE(r.orders.size() == 4);
    CHECK(by_accession(r, "ACC-LATER") == nullptr);

    const WorklistOrder* s = by_accession(r, "ACC-STAT");
    REQUIRE(s != nullptr);
    CHECK(s->priority == "STAT");
    CHECK(s->urgent());
    CHECK(s->patient_id.str() == "P1");
    CHECK(s->procedure_code_meaning.str() == "CHEST CT");
    CHECK(s->procedure_code.str() == "XB01");
    CHECK(s->requested_procedure_description.str() == "CT CHEST PLAIN");
    CHECK(s->step_description.str() == "Chest plain");
    CHECK(s->modality.str() == "CT");
    CHECK(s->scheduled_date == "20261201");
    CHECK(s->scheduled_time == "081500");
    CHECK(s->body_parts().front().str() == "CHEST CT");  // the code meaning before the free texts

    const WorklistOrder* g = by_accession(r, "ACC-GBK");
    REQUIRE(g != nullptr);
    CHECK(g->priority == "ROUTINE");  // upper-cased
    CHECK_FALSE(g->urgent());
    CHECK(g->requested_procedure_description.str() == "胸部CT");  // undeclared GBK survives
    CHECK(contains(g->body_parts(), "胸部"));
    CHECK(g->body_parts_raw() == "\xD0\xD8\xB2\xBF" "CT");  // the bytes as the RIS sent them

    const WorklistOrder* u = by_accession(r, "ACC-UTF8");
    REQUIRE(u != nullptr);
    CHECK(u->urgent());
    CHECK(u->attributes.trimmed("SpecificCharacterSet") == "ISO_IR 192");
    CHECK(u->requested_procedure_description.str() == "腹部CT");
  }

  SECTION("modalities are asked one by one and the window spans days") {
    WorklistResult r = find_worklist(options(), peer_of(ris), {"20261201", "20261203", {"DX", "CR"}});
    REQUIRE_FALSE(r.error);
    REQUIRE(r.orders.size() == 1);
    CHECK(r.orders[0].accession_number.str() == "ACC-DX");
    WorklistResult ct = find_worklist(options(), peer_of(ris), {"20261201", "20261203", {"CT"}});
    REQUIRE_FALSE(ct.error);
    CHECK(ct.orders.size() == 4);
    CHECK(by_accession(ct, "ACC-LATER") != nullptr);
  }

  SECTION("a result cap cancels the query and says so") {
    ScuOptions o = options();
    o.max_results = 2;
    WorklistResult r = find_worklist(o, peer_of(ris), {"20261201", "20261203", {}});
    CHECK(r.truncated);
    CHECK(r.orders.size() == 2);
  }

  SECTION("a stopped RIS is a retryable error, quickly") {
    ris.stop();
    const auto started = std::chrono::steady_clock::now();
    WorklistResult r = find_worklist(options(), peer_of(ris), {"20261201", "20261201", {"CT", "DX"}});
    REQUIRE(r.error);
    CHECK(r.error->cls == ErrorClass::Retryable);
    CHECK(r.orders.empty());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(30));
  }
}

TEST_CASE("a RIS that never answers costs one timeout per query, then an error", "[worklist][integration]") {
  pacspull::dicom::testing::SilentListener silent;
  ScuOptions o = options();
  o.acse_timeout = std::chrono::seconds(2);
  WorklistResult r = find_worklist(o, Peer{AeTitle("RIS"), "127.0.0.1", silent.port(), {}}, {"20261201", "20261201", {}});
  REQUIRE(r.error);
  CHECK(r.error->cls == ErrorClass::Retryable);
  CHECK(r.orders.empty());
}

TEST_CASE("two procedure steps of one accession are two orders, each once", "[worklist][integration]") {
  WorklistRis ris(pacspull::testing::make_temp_dir("pacspull-wl-steps"), "RIS");
  // A chest step and an abdomen step of one accession, and an accession with two unnamed-looking
  // steps that differ only in their description (same RequestedProcedureID, step ids differ).
  ris.add({.accession = "ACC-2", .patient_id = "P1", .procedure_description = "CT CHEST AND ABDOMEN",
           .step_description = "CHEST", .priority = "STAT", .step_id = "SPS1"});
  ris.add({.accession = "ACC-2", .patient_id = "P1", .procedure_description = "CT CHEST AND ABDOMEN",
           .step_description = "ABDOMEN", .step_id = "SPS2"});
  ris.start();
  // CT asked twice (two modality queries answer the same steps): each step still once.
  WorklistResult r = find_worklist(options(), peer_of(ris), {"20261201", "20261201", {"CT", ""}});
  REQUIRE_FALSE(r.error);
  REQUIRE(r.orders.size() == 2);
  std::set<std::string> steps, descriptions;
  for (const auto& o : r.orders) {
    CHECK(o.accession_number.str() == "ACC-2");
    steps.insert(o.attributes.trimmed("ScheduledProcedureStepID"));
    descriptions.insert(o.step_description.str());
  }
  CHECK(steps == std::set<std::string>{"SPS1", "SPS2"});
  CHECK(descriptions == std::set<std::string>{"CHEST", "ABDOMEN"});
}

TEST_CASE("each step's ScheduledProcedureStepStatus is read; a cancelled step still decodes like the others",
          "[worklist][integration]") {
  WorklistRis ris(pacspull::testing::make_temp_dir("pacspull-wl-status"), "RIS");
  WorklistEntry chest{.accession = "ACC-S", .patient_id = "P1", .procedure_description = "CT CHEST", .step_id = "SPS1"};
  chest.status = "SCHEDULED";
  WorklistEntry abdomen{.accession = "ACC-S", .patient_id = "P1", .step_id = "SPS2"};
  abdomen.procedure_description = "\xB8\xB9\xB2\xBF" "CT";  // "腹部CT" in GBK, undeclared
  abdomen.priority = "STAT";
  abdomen.status = "CANCELED";
  WorklistEntry plain{.accession = "ACC-P", .patient_id = "P2", .procedure_description = "CT CHEST"};  // no status
  for (const auto& e : {chest, abdomen, plain}) ris.add(e);
  ris.start();

  auto step = [](const WorklistResult& r, const std::string& id) -> const WorklistOrder* {
    for (const auto& o : r.orders)
      if (o.attributes.trimmed("ScheduledProcedureStepID") == id) return &o;
    return nullptr;
  };
  WorklistResult r = find_worklist(options(), peer_of(ris), {"20261201", "20261201", {}});
  REQUIRE_FALSE(r.error);
  REQUIRE(r.orders.size() == 3);
  const WorklistOrder* c = step(r, "SPS1");
  const WorklistOrder* a = step(r, "SPS2");
  const WorklistOrder* p = step(r, "SPS-ACC-P");
  REQUIRE((c && a && p));
  CHECK(c->step_status == "SCHEDULED");
  CHECK_FALSE(c->cancelled());
  CHECK(a->step_status == "CANCELED");  // wlmscpfs returns (0040,0020) from the step's item
  CHECK(a->cancelled());
  CHECK(a->requested_procedure_description.str() == "腹部CT");  // decoded like any other step
  CHECK(contains(a->body_parts(), "腹部"));
  CHECK(a->body_parts_raw() == "\xB8\xB9\xB2\xBF" "CT");
  CHECK(p->step_status.empty());
  CHECK_FALSE(p->cancelled());

  // The RIS discontinues the chest step (typed in lower case) between two queries.
  chest.status = "discontinued";
  ris.add(chest);
  WorklistResult again = find_worklist(options(), peer_of(ris), {"20261201", "20261201", {}});
  REQUIRE_FALSE(again.error);
  REQUIRE(step(again, "SPS1") != nullptr);
  CHECK(step(again, "SPS1")->step_status == "DISCONTINUED");  // upper-cased
  CHECK(step(again, "SPS1")->cancelled());
}
