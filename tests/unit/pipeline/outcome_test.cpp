#include <catch2/catch.hpp>

#include "pacspull/pipeline/outcome.hpp"
#include "pacspull/pipeline/retrieve_plan.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;
using namespace std::chrono_literals;

TEST_CASE("Retrieve statuses become outcomes with a kind and a class") {
  auto ok = classify_retrieve(0x0000, 12, 0, 0, "C-MOVE");
  CHECK(ok.ok());
  CHECK(ok.cls == OutcomeClass::Success);

  auto none = classify_retrieve(0x0000, 0, 0, 0, "C-MOVE");
  CHECK(none.kind == OutcomeKind::Retryable);
  CHECK(none.cls == OutcomeClass::NothingSent);

  auto some_failed = classify_retrieve(0x0000, 10, 2, 0, "C-MOVE");
  CHECK(some_failed.cls == OutcomeClass::SubOperationsFailed);
  CHECK(some_failed.kind == OutcomeKind::Retryable);
  CHECK(classify_retrieve(0xB000, 10, 2, 0, "C-MOVE").cls == OutcomeClass::SubOperationsFailed);

  auto a801 = classify_retrieve(0xA801, 0, 0, 0, "C-MOVE");
  CHECK(a801.kind == OutcomeKind::Permanent);
  CHECK(a801.cls == OutcomeClass::DestinationUnknown);
  CHECK(a801.status == 0xA801);
  CHECK_THAT(describe(a801), Catch::StartsWith("permanent (destination-unknown, 0xA801): C-MOVE failed with status 0xA801"));

  CHECK(classify_retrieve(0xA900, 0, 0, 0, "x").kind == OutcomeKind::Permanent);
  CHECK(classify_retrieve(0xA900, 0, 0, 0, "x").cls == OutcomeClass::IdentifierMismatch);
  CHECK(classify_retrieve(0xA700, 0, 0, 0, "x").cls == OutcomeClass::OutOfResources);
  CHECK(classify_retrieve(0xA702, 0, 0, 0, "x").kind == OutcomeKind::Retryable);
  CHECK(classify_retrieve(0xC001, 0, 0, 0, "x").cls == OutcomeClass::UnableToProcess);
  CHECK(classify_retrieve(0xFE00, 0, 0, 0, "x").cls == OutcomeClass::Cancelled);
  CHECK(classify_retrieve(0x0122, 0, 0, 0, "x").cls == OutcomeClass::Refused);  // SOP class not supported
  CHECK(classify_retrieve(0x0122, 0, 0, 0, "x").kind == OutcomeKind::Permanent);
}

TEST_CASE("Every class has one kind and a name") {
  CHECK(kind_of(OutcomeClass::Unreachable) == OutcomeKind::Retryable);
  CHECK(kind_of(OutcomeClass::Busy) == OutcomeKind::Retryable);
  CHECK(kind_of(OutcomeClass::Rejected) == OutcomeKind::Permanent);
  CHECK(kind_of(OutcomeClass::SopClassRefused) == OutcomeKind::Permanent);
  CHECK(kind_of(OutcomeClass::NotConfigured) == OutcomeKind::Permanent);
  CHECK(kind_of(OutcomeClass::FewerArrived) == OutcomeKind::Retryable);
  CHECK(std::string(to_string(OutcomeClass::FewerArrived)) == "fewer-arrived");
  CHECK(std::string(to_string(OutcomeKind::Permanent)) == "permanent");
}

TEST_CASE("Failover: refused, unreachable, A7xx and A8xx try the next PACS; our own mistakes do not") {
  CHECK(fails_over(make_outcome(OutcomeClass::Unreachable, 0, "")));
  CHECK(fails_over(make_outcome(OutcomeClass::Rejected, 0, "")));
  CHECK(fails_over(classify_retrieve(0xA801, 0, 0, 0, "x")));
  CHECK(fails_over(classify_retrieve(0xA700, 0, 0, 0, "x")));
  CHECK(fails_over(classify_retrieve(0x0000, 0, 0, 0, "x")));  // nothing sent: maybe the other has it
  CHECK_FALSE(fails_over(classify_retrieve(0x0000, 3, 0, 0, "x")));
  CHECK_FALSE(fails_over(make_outcome(OutcomeClass::BadRequest, 0, "")));
  CHECK_FALSE(fails_over(make_outcome(OutcomeClass::NotConfigured, 0, "")));
}

TEST_CASE("A permanent outcome fails the job at once; a retryable one backs off") {
  RetryPolicy p{5, 10s, 100s};
  core::Time now{};
  CHECK(after_outcome(p, 1, classify_retrieve(0, 4, 0, 0, "x"), now).next == JobNext::Done);
  auto perm = after_outcome(p, 1, classify_retrieve(0xA801, 0, 0, 0, "C-MOVE"), now);
  CHECK(perm.next == JobNext::Failed);
  CHECK_THAT(perm.reason, Catch::Contains("not retried") && Catch::Contains("destination-unknown"));
  auto retry = after_outcome(p, 1, make_outcome(OutcomeClass::Unreachable, 0, "connection refused"), now);
  CHECK(retry.next == JobNext::Retry);
  CHECK(retry.not_before - now == 10s);
  CHECK(after_outcome(p, 5, make_outcome(OutcomeClass::Unreachable, 0, "x"), now).next == JobNext::Failed);
}

TEST_CASE("Sources: the PACS that has the study complete first, the requested one first among equals") {
  std::vector<SourceCandidate> c{{"a", 10L}, {"b", 12L}, {"c", std::nullopt}, {"d", 12L}};
  CHECK(order_sources("a", c, 12L) == std::vector<std::string>{"b", "d", "a", "c"});
  CHECK(order_sources("d", c, 12L) == std::vector<std::string>{"d", "b", "a", "c"});
  // No study count known: any PACS that gave a count counts as complete.
  CHECK(order_sources("a", c, std::nullopt) == std::vector<std::string>{"a", "b", "d", "c"});
  // A requested PACS with no location row is still tried; duplicates dropped.
  CHECK(order_sources("x", {{"a", 3L}, {"a", 3L}}, 3L) == std::vector<std::string>{"a", "x"});
}

TEST_CASE("Re-pull plan: whole series when none is here, exactly the missing instances otherwise") {
  std::vector<PacsSeries> pacs{{"s1", {"1", "2", "3"}}, {"s2", {"4", "5"}}, {"s3", {"6"}}};
  auto plan = plan_repull(pacs, {"1", "3", "6"});
  CHECK(plan.whole_series == std::vector<std::string>{"s2"});
  REQUIRE(plan.instances.size() == 1);
  CHECK(plan.instances[0].series_uid == "s1");
  CHECK(plan.instances[0].sop_uid == "2");
  CHECK(plan.present == 3);
  auto complete = plan_repull(pacs, {"1", "2", "3", "4", "5", "6"});
  CHECK(complete.whole_series.empty());
  CHECK(complete.instances.empty());
}

#include "pacspull/pipeline/concurrency.hpp"

TEST_CASE("Per-PACS window: synchronous by default, halves under pressure, grows after successes") {
  const Outcome ok = classify_retrieve(0, 5, 0, 0, "x");
  const Outcome busy = make_outcome(OutcomeClass::Busy, 0, "");
  const Outcome full = classify_retrieve(0xA700, 0, 0, 0, "x");
  const Outcome a801 = classify_retrieve(0xA801, 0, 0, 0, "x");
  // The default: one at a time, whatever happens.
  WindowPolicy sync{1, true, 3};
  CHECK(next_window(sync, {1, 0}, ok).limit == 1);
  CHECK(next_window(sync, {1, 0}, busy).limit == 1);
  // N parallel, adaptive: 4 -> 2 -> 1 under refusals, back up one per 3 successes.
  WindowPolicy p{4, true, 3};
  Window w{4, 0};
  w = next_window(p, w, full);
  CHECK(w.limit == 2);
  w = next_window(p, w, busy);
  CHECK(w.limit == 1);
  w = next_window(p, w, busy);
  CHECK(w.limit == 1);
  w = next_window(p, w, ok);
  w = next_window(p, w, ok);
  CHECK(w.limit == 1);
  w = next_window(p, w, ok);
  CHECK(w.limit == 2);
  // A permanent refusal of one study says nothing about the PACS's load.
  CHECK(next_window(p, w, a801).limit == 2);
  CHECK_FALSE(pressure(a801));
  for (int i = 0; i < 20; ++i) w = next_window(p, w, ok);
  CHECK(w.limit == 4);
  // Not adaptive: always N.
  CHECK(next_window(WindowPolicy{3, false, 3}, {1, 0}, busy).limit == 3);
}
