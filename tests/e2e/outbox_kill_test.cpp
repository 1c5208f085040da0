// Exactly-once DispatchDone (issue 10 part 2), end to end: the dispatcher commits studies
// as completed while nats-server is stopped, for longer than the relay's publish retries,
// and is killed with SIGKILL before it could publish their events. When the bus and the
// dispatcher are back, every DispatchDone of the day is on the bus exactly once: one
// message per outbox row, none missing, none twice (counted from the stream itself).
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>

#include "outcome_checks.hpp"
#include "pacspull/bus/bus.hpp"
#include "pipeline_fixture.hpp"

using namespace pacspull::testing;
using namespace std::chrono_literals;
namespace bus = pacspull::bus;

TEST_CASE("DispatchDone arrives once although the dispatcher dies after committing while the bus is down",
          "[e2e][outbox]") {
  PipelineFixture f("e2e-outbox-kill");
  f.upload_part("initial");
  f.upload_part("late");
  // Everything but the dispatcher: the filtered studies wait for it on the bus.
  for (const auto& s : PipelineFixture::services())
    if (s != "dispatcher") f.start(s);
  long completed_expected = 0;
  for (const auto& s : f.manifest()["studies"]) completed_expected += s["expected"]["state"] == "completed" ? 1 : 0;
  REQUIRE(completed_expected >= 3);
  // "Filtered" = the filter recorded its verdicts for the study's generation.
  REQUIRE(f.wait_count("SELECT count(*) FROM studies WHERE state = 'received' AND filtered_generation = generation",
                       completed_expected, 180));

  // The dispatcher takes the filtered studies into its ledger queue; then the bus stops.
  f.start("dispatcher");
  REQUIRE(f.wait_count("SELECT count(DISTINCT study_uid) FROM dispatches", completed_expected, 120));
  f.stop_nats();
  const long published_before = f.count("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL");

  // The sends go on without the bus: studies completed, their DispatchDone only in the
  // outbox. Waiting until one has failed to publish several times = longer than the retries.
  REQUIRE(f.wait_count("SELECT count(*) FROM studies WHERE state = 'completed'", completed_expected, 180));
  REQUIRE(f.wait_count("SELECT count(*) FROM outbox WHERE published_at IS NULL AND attempts >= 2", 1, 120));
  const long unpublished = f.count("SELECT count(*) FROM outbox WHERE published_at IS NULL");
  f.kill9("dispatcher");
  INFO(published_before << " DispatchDone published before the bus stopped, " << unpublished
                        << " committed but unpublished when the dispatcher was killed");
  CHECK(unpublished >= 1);

  f.start_nats();
  f.start("dispatcher");
  REQUIRE(wait_for([&] { return f.count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0; }, 60s, 200ms));
  CHECK(wait_all_settled(f, 120));
  check_exact_at_ai_node(f);

  // The stream itself: a fresh durable over pacspull.dispatch.done from the first message.
  std::set<std::string> want;
  {
    const std::string ids = f.query("SELECT string_agg(msg_id, E'\\n') FROM outbox WHERE subject LIKE 'pacspull.dispatch.done%'");
    std::istringstream in(ids);
    for (std::string id; std::getline(in, id);) want.insert(id);
  }
  REQUIRE(static_cast<long>(want.size()) >= completed_expected);
  bus::Options o;
  o.url = f.nats_url();
  o.name = "e2e-outbox-check";
  auto b = bus::Bus::connect(o);
  bus::ConsumerSpec spec;
  spec.stream = "PACSPULL_DISPATCH";
  spec.durable = "e2e_outbox_check";
  spec.filter_subject = "pacspull.dispatch.done";
  b->ensure_consumer(spec);
  auto puller = b->pull(spec);
  std::map<std::string, int> seen;
  long messages = 0;
  // Until every expected id was seen, then until a fetch comes back empty (no extra copy).
  wait_for(
      [&] {
        for (auto& m : puller->fetch(100, 500ms)) {
          ++messages;
          ++seen[m.msg_id()];
          m.ack();
        }
        return seen.size() >= want.size();
      },
      60s, 1ms);
  for (int empty = 0; empty < 2;) {
    auto batch = puller->fetch(100, 500ms);
    if (batch.empty()) ++empty;
    for (auto& m : batch) {
      ++messages;
      ++seen[m.msg_id()];
      m.ack();
    }
  }
  long twice = 0, missing = 0;
  std::string first_twice, first_missing;
  for (const auto& [id, n] : seen)
    if (n > 1 && ++twice == 1) first_twice = id;
  for (const auto& id : want)
    if (!seen.count(id) && ++missing == 1) first_missing = id;
  INFO(want.size() << " DispatchDone in the outbox, " << messages << " messages on the bus; missing " << missing
                   << " (first " << first_missing << "), more than once " << twice << " (first " << first_twice
                   << ")");
  CHECK(missing == 0);
  CHECK(twice == 0);
  CHECK(messages == static_cast<long>(want.size()));
  WARN("outbox: " << published_before << " published before the bus stopped, " << unpublished
                  << " relayed after the dispatcher's SIGKILL and the bus's return; " << messages << " of "
                  << want.size() << " DispatchDone on the bus once each");
}
