#include <catch2/catch.hpp>

#include "pacspull/pipeline/storage.hpp"

using namespace pacspull;
using namespace pacspull::pipeline;
using namespace std::chrono_literals;

namespace {
const core::Time t0 = core::Time{} + 1000h;

StoredStudy settled(StudyState state, bool sent) {
  StoredStudy s;
  s.state = state;
  s.generation = 2;
  s.dispatched_generation = 2;
  s.dispatch_sent = sent;
  s.settled_at = t0;
  return s;
}
}  // namespace

TEST_CASE("A dispatched study is deleted after keep_after_dispatch, at once by default") {
  auto s = settled(StudyState::Completed, true);
  CHECK(deletion_due(s, {}, t0).action == DeleteAction::Delete);
  RetentionPolicy keep{10min, 24h};
  auto d = deletion_due(s, keep, t0 + 5min);
  CHECK(d.action == DeleteAction::Keep);
  CHECK(d.reason == "dispatched, due in 300 s");
  CHECK(d.due_at == t0 + 10min);
  CHECK(deletion_due(s, keep, t0 + 10min).action == DeleteAction::Delete);
}

TEST_CASE("Studies that end not dispatched wait for the retention time") {
  RetentionPolicy p{0s, 24h};
  for (auto state : {StudyState::Unsupported, StudyState::Failed}) {
    auto s = settled(state, false);
    CHECK(deletion_due(s, p, t0 + 23h).action == DeleteAction::Keep);
    CHECK(deletion_due(s, p, t0 + 24h).action == DeleteAction::Delete);
  }
  // Sent once, filtered out when it came round again: its hand-off was confirmed.
  CHECK(deletion_due(settled(StudyState::Unsupported, true), p, t0).action == DeleteAction::Delete);
}

TEST_CASE("A study still in the pipeline or reopened is never deleted") {
  for (auto state : {StudyState::Found, StudyState::Queued, StudyState::Pulling, StudyState::Received}) {
    auto s = settled(state, true);
    auto d = deletion_due(s, {}, t0 + 1000h);
    CHECK(d.action == DeleteAction::Keep);
    CHECK(d.reason.find("not settled") != std::string::npos);
  }
  auto reopened = settled(StudyState::Completed, true);
  reopened.generation = 3;  // the dispatcher settled generation 2 only
  CHECK(deletion_due(reopened, {}, t0 + 1000h).action == DeleteAction::Keep);
}

TEST_CASE("A pending dispatch, a completed study without a sent dispatch, deleted files: kept") {
  auto pending = settled(StudyState::Completed, true);
  pending.dispatch_pending = true;
  CHECK(deletion_due(pending, {}, t0 + 1000h).reason == "a dispatch is pending");
  CHECK(deletion_due(settled(StudyState::Completed, false), {}, t0 + 1000h).action == DeleteAction::Keep);
  auto gone = settled(StudyState::Completed, true);
  gone.files_deleted = true;
  CHECK(deletion_due(gone, {}, t0 + 1000h).action == DeleteAction::Keep);
}

TEST_CASE("Watermarks parse as a percentage or a byte size") {
  CHECK(parse_watermark("90%")->kind == Watermark::Kind::Percent);
  CHECK(parse_watermark("85.5%")->value == Approx(85.5));
  CHECK(parse_watermark("20GiB")->value == Approx(20.0 * 1073741824));
  CHECK(parse_watermark("512M")->value == Approx(512.0 * 1048576));
  CHECK(parse_watermark("1000")->kind == Watermark::Kind::Bytes);
  CHECK_FALSE(parse_watermark("101%"));
  CHECK_FALSE(parse_watermark("-5%"));
  CHECK_FALSE(parse_watermark("lots"));
  CHECK_FALSE(parse_watermark(""));
  CHECK(parse_watermark("50%")->used_bytes(1000) == 500);
}

TEST_CASE("The storage cap refuses above high and resumes only at or below low") {
  const Watermark high{Watermark::Kind::Percent, 90}, low{Watermark::Kind::Percent, 80};
  auto used = [](uint64_t n) { return StoreUsage{1000, 1000 - n}; };
  CHECK_FALSE(storage_cap(false, used(900), high, low).refusing);
  auto up = storage_cap(false, used(901), high, low);
  CHECK(up.refusing);
  CHECK(up.changed);
  CHECK(up.reason.find("above the high watermark") == 0);
  // Between the marks the state holds both ways (no flapping).
  CHECK(storage_cap(true, used(850), high, low).refusing);
  CHECK_FALSE(storage_cap(true, used(850), high, low).changed);
  CHECK_FALSE(storage_cap(false, used(850), high, low).refusing);
  auto down = storage_cap(true, used(800), high, low);
  CHECK_FALSE(down.refusing);
  CHECK(down.changed);
  // Byte watermarks.
  const Watermark hb{Watermark::Kind::Bytes, 600}, lb{Watermark::Kind::Bytes, 400};
  CHECK(storage_cap(false, used(601), hb, lb).refusing);
  CHECK(storage_cap(true, used(401), hb, lb).refusing);
  CHECK_FALSE(storage_cap(true, used(400), hb, lb).refusing);
}

TEST_CASE("Temp names carry host, pid, random and sequence and read back from the right") {
  const std::string n = temp_name("rx-pod-7.local", 42, 0xabcdefULL, 9);
  CHECK(n == "rx-rx-pod-7.local-42-0000000000abcdef-9.tmp");
  auto o = parse_temp_name(n);
  REQUIRE(o);
  CHECK(o->host == "rx-pod-7.local");
  CHECK(o->pid == 42);
  CHECK(temp_host("a/b c") == "a_b_c");
  CHECK_FALSE(parse_temp_name("rx-12-3.tmp"));           // an older layout
  CHECK_FALSE(parse_temp_name("rx-host-x-00ff-1.tmp"));  // pid not a number
  CHECK_FALSE(parse_temp_name("something.dcm"));
}

TEST_CASE("A starting receiver removes only stale temp files, never another's in flight") {
  const core::Seconds stale = 1h;
  auto file = [](std::string host, long pid, core::Seconds age, bool alive) {
    return TempFile{TempOwner{std::move(host), pid}, age, alive};
  };
  CHECK(stale_temp(file("me", 100, 5s, false), "me", 200, stale).action == TempAction::Remove);  // dead pid
  CHECK(stale_temp(file("me", 200, 5s, true), "me", 200, stale).action == TempAction::Remove);   // our pid reused
  CHECK(stale_temp(file("me", 100, 5s, true), "me", 200, stale).action == TempAction::Keep);     // a sibling
  CHECK(stale_temp(file("other", 100, 5s, false), "me", 200, stale).action == TempAction::Keep);  // another host
  CHECK(stale_temp(file("other", 100, 2h, false), "me", 200, stale).action == TempAction::Remove);
  CHECK(stale_temp(TempFile{std::nullopt, 5s, false}, "me", 200, stale).action == TempAction::Keep);
  CHECK(stale_temp(TempFile{std::nullopt, 2h, false}, "me", 200, stale).action == TempAction::Remove);
}
