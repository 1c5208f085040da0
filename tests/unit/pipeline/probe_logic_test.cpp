// Capability assessment, query plans, series fingerprints, series choice and cap splits
// (issue 9 parts 1-4): the finder's pure logic for PACS that bend Query/Retrieve.
#include <catch2/catch.hpp>

#include "pacspull/pipeline/capabilities.hpp"
#include "pacspull/pipeline/series_choice.hpp"
#include "pacspull/pipeline/series_plan.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;
using namespace std::chrono_literals;

namespace {
const core::Time t0 = core::Time{} + 1000h;

// What DCMTK's dcmqrscp answers: no ModalitiesInStudy, no counts, ignores the modality key,
// series level only Modality, image level lists instances.
ProbeAnswers dcmqrscp_like() {
  ProbeAnswers a;
  a.studies = {core::AttributeMap{{"StudyInstanceUID", "1.2"}, {"StudyDate", "20240612"}},
               core::AttributeMap{{"StudyInstanceUID", "1.3"}, {"StudyDate", "20240612"}}};
  a.unmatched_modality_answers = 2;
  a.series_run = true;
  a.series = {core::AttributeMap{{"SeriesInstanceUID", "1.2.1"}, {"Modality", "CT"}, {"SeriesNumber", "1"}}};
  a.images_run = true;
  a.images = {core::AttributeMap{{"SOPInstanceUID", "1.2.1.1"}}};
  return a;
}
}  // namespace

TEST_CASE("dcmqrscp-like answers: no study modalities or counts, series queries with image counts") {
  PacsCapabilities c = assess_probe(dcmqrscp_like());
  CHECK(c.study_modalities == false);
  CHECK(c.study_counts == false);
  CHECK(c.filters_modalities == false);
  CHECK(c.series_modality == true);
  CHECK(c.series_counts == false);
  CHECK(c.series_body_part == false);
  CHECK(c.image_level == true);
  CHECK(c.result_cap == 0);
  QueryPlan p = plan_queries(c, SeriesFilterMode::Auto);
  CHECK_FALSE(p.modality_queries);
  CHECK(p.series_queries);
  CHECK(p.image_counts);
  CHECK(p.series_filter);  // series queries are needed anyway
  CHECK_FALSE(p.cap);
  CHECK_THAT(p.describe(), Catch::Contains("image-level C-FIND per series"));
  CHECK_FALSE(plan_queries(c, SeriesFilterMode::Off).series_filter);
}

TEST_CASE("Orthanc-like answers: study level finds, and series filtering is on by default (good series answers)") {
  ProbeAnswers a;
  a.studies = {core::AttributeMap{{"StudyInstanceUID", "1.2"}, {"ModalitiesInStudy", "CT\\PR"},
                                  {"NumberOfStudyRelatedInstances", "54"}, {"TimezoneOffsetFromUTC", "+0800"}}};
  a.unmatched_modality_answers = 0;
  a.series_run = true;
  a.series = {core::AttributeMap{{"SeriesInstanceUID", "1.2.1"}, {"Modality", "CT"},
                                 {"NumberOfSeriesRelatedInstances", "40"}, {"BodyPartExamined", "CHEST"}}};
  PacsCapabilities c = assess_probe(a);
  CHECK(c.study_modalities == true);
  CHECK(c.study_counts == true);
  CHECK(c.filters_modalities == true);
  CHECK(c.series_counts == true);
  CHECK(c.series_body_part == true);
  CHECK(c.timezone_offset == "+0800");
  CHECK_FALSE(c.image_level);  // not run: unknown
  // Auto: Modality, counts and BodyPartExamined at series level are good series answers,
  // so series are chosen before the move (h18 measured 1.239x -> 1.101x bytes on Orthanc
  // with the filter on; before, Auto moved whole studies here).
  CHECK(series_answers_good(c));
  QueryPlan p = plan_queries(c, SeriesFilterMode::Auto);
  CHECK(p.modality_queries);
  CHECK(p.series_queries);
  CHECK(p.series_filter);
  CHECK_FALSE(p.image_counts);  // the series level has counts
  QueryPlan on = plan_queries(c, SeriesFilterMode::On);
  CHECK(on.series_filter);
  CHECK(on.series_queries);
  CHECK_FALSE(on.image_counts);
  QueryPlan off = plan_queries(c, SeriesFilterMode::Off);
  CHECK_FALSE(off.series_filter);
  CHECK_FALSE(off.series_queries);  // study level is enough to find
}

TEST_CASE("Poor series answers keep Auto off where study level is enough") {
  PacsCapabilities c;
  c.study_modalities = true;
  c.study_counts = true;
  c.filters_modalities = true;
  c.series_modality = true;
  // Modality only: nothing to choose by, a series query per study would buy nothing.
  CHECK_FALSE(series_answers_good(c));
  CHECK_FALSE(plan_queries(c, SeriesFilterMode::Auto).series_filter);
  CHECK_FALSE(plan_queries(c, SeriesFilterMode::Auto).series_queries);
  // SeriesDescription but no series counts (a scout is told by its count): still poor.
  c.series_description = true;
  c.series_counts = false;
  CHECK_FALSE(plan_queries(c, SeriesFilterMode::Auto).series_filter);
  // Counts unknown (not probed) are not assumed.
  c.series_counts.reset();
  CHECK_FALSE(plan_queries(c, SeriesFilterMode::Auto).series_filter);
  // Counts and SeriesDescription: good.
  c.series_counts = true;
  CHECK(plan_queries(c, SeriesFilterMode::Auto).series_filter);
  // On still needs series Modality.
  c.series_modality = false;
  CHECK_FALSE(plan_queries(c, SeriesFilterMode::On).series_filter);
  CHECK_FALSE(plan_queries(c, SeriesFilterMode::Auto).series_filter);
}

TEST_CASE("A PACS that ends the query itself with 0xFE00 has a cap; our own guard proves none") {
  ProbeAnswers a = dcmqrscp_like();
  a.studies_capped_by_peer = true;
  CHECK(assess_probe(a).result_cap == 2);
  CHECK(plan_queries(assess_probe(a), SeriesFilterMode::Auto).cap == 2);
  {
    // Orthanc's cap applies before ModalitiesInStudy matching: a capped PACS is asked without
    // the modality key, split by time, and by modality only as the last resort.
    ProbeAnswers orthanc;
    orthanc.studies = {core::AttributeMap{{"StudyInstanceUID", "1.2"}, {"ModalitiesInStudy", "CT"},
                                          {"NumberOfStudyRelatedInstances", "5"}}};
    orthanc.studies_capped_by_peer = true;
    orthanc.unmatched_modality_answers = 0;
    QueryPlan capped = plan_queries(assess_probe(orthanc), SeriesFilterMode::Auto);
    CHECK(capped.cap == 1);
    CHECK_FALSE(capped.modality_queries);
    CHECK(capped.can_split_modality);
    CHECK_THAT(capped.describe(), Catch::Contains("caps answers"));
  }
  a.studies_capped_by_peer = false;
  a.studies_truncated = true;
  CHECK_FALSE(assess_probe(a).result_cap);
  ProbeAnswers failed;
  failed.studies_failed = true;
  PacsCapabilities c = assess_probe(failed);
  CHECK_FALSE(c.study_modalities);
  CHECK_FALSE(c.notes.empty());
  // Unknown capabilities plan like a good PACS: the present behaviour.
  QueryPlan p = plan_queries(c, SeriesFilterMode::Auto);
  CHECK(p.modality_queries);
  CHECK_FALSE(p.series_queries);
}

TEST_CASE("Site pins override the probe field by field") {
  PacsCapabilities probed = assess_probe(dcmqrscp_like());
  PacsCapabilities pins;
  pins.result_cap = 100;
  pins.image_level = false;
  PacsCapabilities c = merge_pins(probed, pins);
  CHECK(c.result_cap == 100);
  CHECK(c.image_level == false);
  CHECK(c.study_modalities == false);  // not pinned: probed value
  CHECK_FALSE(plan_queries(c, SeriesFilterMode::Auto).image_counts);
}

TEST_CASE("Series fingerprint: order-independent, changes with a count or a new series") {
  std::vector<SeriesInfo> a{{"1.2.2", "CT", 40}, {"1.2.1", "CT", 2}};
  std::vector<SeriesInfo> b{{"1.2.1", "CT", 2}, {"1.2.2", "CT", 40}};
  CHECK(series_fingerprint(a) == series_fingerprint(b));
  CHECK(series_fingerprint(a) == "1.2.1=2;1.2.2=40;");
  b[1].count = 41;
  CHECK(series_fingerprint(a) != series_fingerprint(b));
  b.push_back({"1.2.3", "CT", std::nullopt});
  CHECK_THAT(series_fingerprint(b), Catch::Contains("1.2.3=?"));
  CHECK(total_count(a) == 42);
  CHECK_FALSE(total_count(b));
}

TEST_CASE("Stable once the fingerprint is unchanged over N polls and the minimum age") {
  FingerprintPolicy policy{2, core::Seconds(20)};
  auto s1 = observe_fingerprint(std::nullopt, "a=1;", policy, t0, "1 series");
  CHECK_FALSE(s1.stable);
  CHECK(s1.next.since == t0);
  auto s2 = observe_fingerprint(s1.next, "a=1;", policy, t0 + 10s, "1 series");
  CHECK_FALSE(s2.stable);  // one poll, 10 s
  auto s3 = observe_fingerprint(s2.next, "a=1;", policy, t0 + 15s, "1 series");
  CHECK_FALSE(s3.stable);  // two polls, but only 15 s
  CHECK_THAT(s3.reason, Catch::Contains("stable after 2 polls and 20 s"));
  auto s4 = observe_fingerprint(s3.next, "a=1;", policy, t0 + 21s, "1 series");
  CHECK(s4.stable);
  CHECK_THAT(s4.reason, Catch::Contains("unchanged over 3 polls and 21 s"));
  // A late series resets the watch.
  auto s5 = observe_fingerprint(s4.next, "a=1;b=30;", policy, t0 + 30s, "2 series");
  CHECK_FALSE(s5.stable);
  CHECK(s5.next.unchanged_polls == 0);
  CHECK(s5.next.since == t0 + 30s);
  CHECK_THAT(s5.reason, Catch::Contains("series changed"));
}

TEST_CASE("Series choice: scouts and other modalities stay behind, unseen chest sources keep a series") {
  rules::RuleSet rs;
  core::AttributeMap study{{"StudyDescription", "CT"}};
  std::vector<core::AttributeMap> series{
      {{"SeriesInstanceUID", "s1"}, {"Modality", "CT"}, {"NumberOfSeriesRelatedInstances", "2"}},   // scout
      {{"SeriesInstanceUID", "s2"}, {"Modality", "CT"}, {"NumberOfSeriesRelatedInstances", "60"}},  // no body part
      {{"SeriesInstanceUID", "s3"}, {"Modality", "PR"}, {"NumberOfSeriesRelatedInstances", "1"}},
      {{"SeriesInstanceUID", "s4"},
       {"Modality", "CT"},
       {"BodyPartExamined", "HEAD"},
       {"NumberOfSeriesRelatedInstances", "80"}},
      {{"SeriesInstanceUID", "s5"},
       {"Modality", "CT"},
       {"SeriesDescription", "MPR CORONAL"},
       {"NumberOfSeriesRelatedInstances", "80"}},
  };
  SeriesChoice c = choose_series(rs, series, study);
  REQUIRE_FALSE(c.whole_study);
  CHECK(c.move == std::vector<std::string>{"s2"});
  CHECK(c.instances == 60);
  REQUIRE(c.dropped.size() == 4);
  CHECK_THAT(c.dropped[0].second, Catch::Contains("instance nums 2 < 10"));
  CHECK_THAT(c.dropped[1].second, Catch::Contains("Modality PR"));
  CHECK_THAT(c.dropped[2].second, Catch::Contains("BodyPartExamined HEAD"));
  CHECK_THAT(c.dropped[3].second, Catch::Contains("MPR"));
}

TEST_CASE("Series choice: DX family moves the whole study; nothing left moves the whole study") {
  rules::RuleSet rs;
  std::vector<core::AttributeMap> dx{{{"SeriesInstanceUID", "d1"}, {"Modality", "DX"}},
                                     {{"SeriesInstanceUID", "d2"}, {"Modality", "PR"}}};
  SeriesChoice c = choose_series(rs, dx, {});
  CHECK(c.whole_study);
  CHECK_THAT(c.reason, Catch::Contains("DX family"));
  std::vector<core::AttributeMap> head{
      {{"SeriesInstanceUID", "h1"}, {"Modality", "CT"}, {"BodyPartExamined", "HEAD"}}};
  SeriesChoice h = choose_series(rs, head, {});
  CHECK(h.whole_study);
  CHECK(h.dropped.empty());
  // Without a count the thickness cannot be judged: kept.
  std::vector<core::AttributeMap> nocount{{{"SeriesInstanceUID", "c1"}, {"Modality", "CT"}},
                                          {{"SeriesInstanceUID", "c2"}, {"Modality", "SR"}}};
  SeriesChoice n = choose_series(rs, nocount, {});
  CHECK(n.move == std::vector<std::string>{"c1"});
  CHECK_FALSE(n.instances);
}

TEST_CASE("A capped query splits by date, then by time range, then by modality") {
  QueryPart window{"20240611", "20240612", 0, 86399, ""};
  auto days = split_capped(window, true, {"CT", "DX"});
  REQUIRE(days.size() == 2);
  CHECK(days[0].study_date() == "20240611");
  CHECK(days[1].study_date() == "20240612");
  CHECK(days[0].study_time().empty());
  auto halves = split_capped(days[1], true, {"CT", "DX"});
  REQUIRE(halves.size() == 2);
  CHECK(halves[0].study_time() == "000000-115959");
  CHECK(halves[1].study_time() == "120000-235959");
  // Down to the minimum time slice, then by modality.
  QueryPart minute{"20240612", "20240612", 3600, 3659, ""};
  auto by_modality = split_capped(minute, true, {"CT", "DX"});
  REQUIRE(by_modality.size() == 2);
  CHECK(by_modality[1].modality == "DX");
  CHECK(by_modality[1].describe() == "StudyDate 20240612 StudyTime 010000-010059 ModalitiesInStudy DX");
  CHECK(split_capped(by_modality[1], true, {"CT", "DX"}).empty());
  CHECK(split_capped(minute, false, {"CT", "DX"}).empty());  // the PACS ignores the modality key
  // Every second of the day is covered exactly once by repeated halving.
  std::vector<QueryPart> todo{QueryPart{"20240612", "20240612", 0, 86399, ""}}, leaves;
  while (!todo.empty()) {
    QueryPart p = todo.back();
    todo.pop_back();
    auto parts = split_capped(p, false, {}, 3600);
    if (parts.empty()) leaves.push_back(p);
    todo.insert(todo.end(), parts.begin(), parts.end());
  }
  long covered = 0;
  for (const auto& l : leaves) covered += l.to_s - l.from_s + 1;
  CHECK(covered == 86400);
  CHECK(hit_cap(10, false, false, 10));
  CHECK_FALSE(hit_cap(9, false, false, 10));
  CHECK(hit_cap(3, true, false, std::nullopt));
  CHECK_FALSE(hit_cap(3, false, false, 0));
}

TEST_CASE("C-GET probed: yes when the instance arrived, no when the PACS refused, unknown on the network") {
  ProbeAnswers a = dcmqrscp_like();
  CHECK_FALSE(assess_probe(a).c_get.has_value());  // not tried
  a.get = ProbeAnswers::GetTry{"1.2.1.1", true, make_outcome(OutcomeClass::Success, 0, "ok"), 525000};
  PacsCapabilities yes = assess_probe(a);
  CHECK(yes.c_get == true);
  CHECK_THAT(Catch::Detail::stringify(yes.notes), Catch::Contains("arrived (525000 bytes)"));
  // dcmqrscp without a role-selection profile: success, 0 sub-operations.
  a.get = ProbeAnswers::GetTry{"1.2.1.1", false, make_outcome(OutcomeClass::NothingSent, 0, "0 sent"), 0};
  CHECK(assess_probe(a).c_get == false);
  a.get->outcome = make_outcome(OutcomeClass::SopClassRefused, 0, "no presentation context for C-GET");
  PacsCapabilities no = assess_probe(a);
  CHECK(no.c_get == false);
  CHECK_THAT(Catch::Detail::stringify(no.notes), Catch::Contains("C-GET of one instance refused"));
  a.get->outcome = make_outcome(OutcomeClass::SubOperationsFailed, 0xA702, "role refused");
  CHECK(assess_probe(a).c_get == false);
  for (OutcomeClass network : {OutcomeClass::Unreachable, OutcomeClass::NetworkError, OutcomeClass::Busy}) {
    a.get->outcome = make_outcome(network, 0, "timeout");
    PacsCapabilities u = assess_probe(a);
    CHECK_FALSE(u.c_get.has_value());
    CHECK_THAT(Catch::Detail::stringify(u.notes), Catch::Contains("could not be judged"));
  }
  // Pins still win.
  PacsCapabilities pins;
  pins.c_get = false;
  CHECK(merge_pins(yes, pins).c_get == false);
}
