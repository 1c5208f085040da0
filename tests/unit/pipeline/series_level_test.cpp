// Series-level retrieval and the C-GET fallback (issue 9 part 6): what the mover learns
// from a PACS's answers and whether it retrieves the whole study or by C-GET instead.
#include <catch2/catch.hpp>

#include "pacspull/pipeline/outcome.hpp"
#include "pacspull/pipeline/retrieve_plan.hpp"

using namespace pacspull::pipeline;

namespace {

SeriesRetrieval got(int completed) { return {classify_retrieve(0x0000, completed, 0, 0, "C-MOVE"), completed}; }
SeriesRetrieval status(uint16_t s) { return {classify_retrieve(s, 0, 0, 0, "C-MOVE"), 0}; }
SeriesRetrieval failure(OutcomeClass c) { return {make_outcome(c, 0, "x"), 0}; }

const std::optional<bool> kUnknown;

}  // namespace

TEST_CASE("Series-level refusals are A900, Cxxx and other refusal statuses, never A801, A7xx or the network") {
  CHECK(refuses_series_level(status(0xA900).outcome));
  CHECK(refuses_series_level(status(0xC000).outcome));
  CHECK(refuses_series_level(status(0xC512).outcome));
  CHECK(refuses_series_level(status(0xAA00).outcome));
  CHECK(refuses_series_level(status(0x0122).outcome));
  CHECK_FALSE(refuses_series_level(status(0xA801).outcome));
  CHECK_FALSE(refuses_series_level(status(0xA700).outcome));
  CHECK_FALSE(refuses_series_level(status(0xA702).outcome));
  CHECK_FALSE(refuses_series_level(status(0xB000).outcome));
  CHECK_FALSE(refuses_series_level(status(0xFE00).outcome));
  CHECK_FALSE(refuses_series_level(got(0).outcome));  // success, nothing sent: not a refusal
  CHECK_FALSE(refuses_series_level(got(3).outcome));
  for (auto c : {OutcomeClass::Unreachable, OutcomeClass::NetworkError, OutcomeClass::Busy, OutcomeClass::Rejected,
                 OutcomeClass::SopClassRefused, OutcomeClass::BadRequest, OutcomeClass::NotConfigured})
    CHECK_FALSE(refuses_series_level(failure(c).outcome));
}

TEST_CASE("Only a PACS known not to retrieve series gets the whole study at once") {
  CHECK(retrieve_by_series(kUnknown));
  CHECK(retrieve_by_series(true));
  CHECK_FALSE(retrieve_by_series(false));
}

TEST_CASE("While the capability is unknown a refused series is evidence: the next series is asked too") {
  CHECK(continue_after_series(kUnknown, status(0xA900).outcome));
  CHECK(continue_after_series(kUnknown, status(0xC000).outcome));
  CHECK(continue_after_series(kUnknown, got(0).outcome));  // nothing sent: as before, the next series
  CHECK(continue_after_series(true, got(0).outcome));
  CHECK(continue_after_series(true, got(4).outcome));
  // Known to do series level: a refusal is about that series; the job stops with it.
  CHECK_FALSE(continue_after_series(true, status(0xC000).outcome));
  // Never for the failures that say nothing about the level.
  CHECK_FALSE(continue_after_series(kUnknown, status(0xA801).outcome));
  CHECK_FALSE(continue_after_series(kUnknown, status(0xA700).outcome));
  CHECK_FALSE(continue_after_series(kUnknown, failure(OutcomeClass::Unreachable).outcome));
  CHECK_FALSE(continue_after_series(kUnknown, failure(OutcomeClass::NetworkError).outcome));
  CHECK_FALSE(continue_after_series(kUnknown, status(0xB000).outcome));
}

TEST_CASE("Every named series refused on a PACS of unknown capability: the whole study now, learn no if it comes") {
  auto d = judge_series_retrievals(kUnknown, {status(0xA900), status(0xA900), status(0xA900)});
  CHECK(d.whole_study);
  CHECK(d.learn_false_if_study_delivers);
  CHECK_FALSE(d.learn);  // nothing learned before the study-level retrieval delivered
  CHECK(d.reason == "every one of the 3 series named was refused (0xA900)");

  auto c = judge_series_retrievals(kUnknown, {status(0xC000)});
  CHECK(c.whole_study);
  CHECK(c.reason == "every one of the 1 series named was refused (0xC000)");

  // Refused and nothing sent, mixed: still none delivered.
  auto mixed = judge_series_retrievals(kUnknown, {status(0xAA00), got(0)});
  CHECK(mixed.whole_study);
  CHECK(mixed.learn_false_if_study_delivers);
  CHECK(mixed.reason == "every one of the 2 series named was refused (1, 0xAA00) or sent nothing (1)");

  // A PACS that answers series-level requests with success and 0 sub-operations each.
  auto silent = judge_series_retrievals(kUnknown, {got(0), got(0)});
  CHECK(silent.whole_study);
  CHECK(silent.reason == "for every one of the 2 series named the PACS sent nothing");
}

TEST_CASE("A series that delivers teaches yes; a refused one among delivered ones is about that series") {
  auto d = judge_series_retrievals(kUnknown, {got(12), got(3)});
  CHECK(d.learn == true);
  CHECK_FALSE(d.whole_study);
  CHECK(d.reason == "series-level retrieval delivered 15 instances");

  // One series gone (a mirror without it: Orthanc says 0xC000), the others came: yes, and
  // no whole study (the refusal is about that series; the job's outcome says so).
  auto gone = judge_series_retrievals(kUnknown, {status(0xC000), got(5)});
  CHECK(gone.learn == true);
  CHECK_FALSE(gone.whole_study);
  CHECK_FALSE(gone.learn_false_if_study_delivers);

  // Sub-operations failed but some instances came: the PACS does retrieve series.
  SeriesRetrieval partial{classify_retrieve(0xB000, 4, 1, 0, "C-MOVE"), 4};
  CHECK(judge_series_retrievals(kUnknown, {partial}).learn == true);
}

TEST_CASE("Known capabilities are not relearned; failures that say nothing about the level teach nothing") {
  // Known yes: nothing to learn, and a refusal does not turn into a whole-study retrieval.
  CHECK_FALSE(judge_series_retrievals(true, {got(3)}).learn);
  auto yes_refused = judge_series_retrievals(true, {status(0xC000)});
  CHECK_FALSE(yes_refused.whole_study);
  CHECK_FALSE(yes_refused.learn);
  // Known no: the mover never asked by series (retrieve_by_series); nothing to judge.
  auto no = judge_series_retrievals(false, {status(0xC000)});
  CHECK_FALSE(no.whole_study);
  CHECK_FALSE(no.learn);
  // A801, out of resources, unreachable: neither whole study nor learning.
  for (const auto& r : {status(0xA801), status(0xA700), failure(OutcomeClass::Unreachable)}) {
    auto d = judge_series_retrievals(kUnknown, {r});
    CHECK_FALSE(d.whole_study);
    CHECK_FALSE(d.learn);
  }
  // A refusal next to an A7xx: not every series was refused at series level.
  auto busy = judge_series_retrievals(kUnknown, {status(0xC000), status(0xA702)});
  CHECK_FALSE(busy.whole_study);
  CHECK(judge_series_retrievals(kUnknown, {}).whole_study == false);
}

TEST_CASE("retrieve: move | get | auto") {
  CHECK(parse_retrieve_setting("move") == RetrieveSetting::Move);
  CHECK(parse_retrieve_setting("get") == RetrieveSetting::Get);
  CHECK(parse_retrieve_setting("auto") == RetrieveSetting::Auto);
  CHECK_FALSE(parse_retrieve_setting("Auto"));
  CHECK_FALSE(parse_retrieve_setting(""));
  CHECK(std::string(to_string(RetrieveSetting::Auto)) == "auto");
}

TEST_CASE("retrieve: auto falls back to C-GET only when the PACS refused the move before sending, where C-GET works") {
  const Outcome a801 = classify_retrieve(0xA801, 0, 0, 0, "C-MOVE");
  auto yes = get_fallback(RetrieveSetting::Auto, true, a801, 0);
  CHECK(yes.use_get);
  CHECK_THAT(yes.reason, Catch::Contains("0xA801") && Catch::Contains("register our AE title"));
  // Orthanc answers an unknown destination with 0xC000 (unable to process).
  const Outcome c000 = classify_retrieve(0xC000, 0, 0, 0, "C-MOVE");
  auto orthanc = get_fallback(RetrieveSetting::Auto, true, c000, 0);
  CHECK(orthanc.use_get);
  CHECK_THAT(orthanc.reason, Catch::Contains("0xC000") && Catch::Contains("retrieving by C-GET"));
  // C-GET not known to work (not probed, or probed no): the refusal stands, the reason says why.
  auto unknown = get_fallback(RetrieveSetting::Auto, std::nullopt, a801, 0);
  CHECK_FALSE(unknown.use_get);
  CHECK_THAT(unknown.reason, Catch::Contains("not known to work"));
  auto no = get_fallback(RetrieveSetting::Auto, false, c000, 0);
  CHECK_FALSE(no.use_get);
  CHECK_THAT(no.reason, Catch::Contains("known not to work"));
  // Only auto; only before anything was sent; only those refusals.
  CHECK_FALSE(get_fallback(RetrieveSetting::Move, true, a801, 0).use_get);
  CHECK(get_fallback(RetrieveSetting::Move, true, a801, 0).reason.empty());
  CHECK_FALSE(get_fallback(RetrieveSetting::Get, true, a801, 0).use_get);
  CHECK_FALSE(get_fallback(RetrieveSetting::Auto, true, classify_retrieve(0xC000, 3, 0, 0, "C-MOVE"), 3).use_get);
  CHECK_FALSE(get_fallback(RetrieveSetting::Auto, true, classify_retrieve(0xA700, 0, 0, 0, "C-MOVE"), 0).use_get);
  CHECK(get_fallback(RetrieveSetting::Auto, true, classify_retrieve(0xA700, 0, 0, 0, "C-MOVE"), 0).reason.empty());
  CHECK_FALSE(get_fallback(RetrieveSetting::Auto, true, classify_retrieve(0xA900, 0, 0, 0, "C-MOVE"), 0).use_get);
  CHECK_FALSE(get_fallback(RetrieveSetting::Auto, true, classify_retrieve(0xB000, 0, 2, 0, "C-MOVE"), 0).use_get);
  CHECK_FALSE(get_fallback(RetrieveSetting::Auto, true, make_outcome(OutcomeClass::Unreachable, 0, "x"), 0).use_get);
  CHECK_FALSE(get_fallback(RetrieveSetting::Auto, true, make_outcome(OutcomeClass::NetworkError, 0, "x"), 0).use_get);
  CHECK_FALSE(get_fallback(RetrieveSetting::Auto, true, classify_retrieve(0x0000, 5, 0, 0, "C-MOVE"), 5).use_get);
}
