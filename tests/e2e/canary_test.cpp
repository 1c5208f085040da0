// PHI canary (issue 11 part 5): a generated day whose patients carry unique canary strings
// (gen_day.py --canary: PatientName, PatientID and AccessionNumber PREFIX+letter+number,
// birth dates in 1823) is pulled end to end with debug logging, while a raw NATS client
// subscribed to `>` records every message that crosses the server (subjects, headers and
// payloads: pipeline events, JetStream API calls and replies, acks). Then every service log,
// every /metrics page and every recorded message is searched: no canary may appear.
// DispatchDone is tested with dispatcher.event_identifiers off (the default).
#include <nats/nats.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "pipeline_fixture.hpp"

using namespace pacspull::testing;
namespace fs = std::filesystem;

namespace {

// Everything one raw subscriber to `>` saw: subject, headers and payload of each message.
class BusRecorder {
 public:
  explicit BusRecorder(const std::string& url) {
    natsOptions* opts = nullptr;
    REQUIRE(natsOptions_Create(&opts) == NATS_OK);
    natsOptions_SetURL(opts, url.c_str());
    natsOptions_SetName(opts, "canary-recorder");
    natsStatus s = natsConnection_Connect(&nc_, opts);
    natsOptions_Destroy(opts);
    REQUIRE(s == NATS_OK);
    REQUIRE(natsConnection_Subscribe(&sub_, nc_, ">", &BusRecorder::on_message, this) == NATS_OK);
    // Never drop a message for being slow: the search must see all of them.
    natsSubscription_SetPendingLimits(sub_, -1, -1);
    REQUIRE(natsConnection_Flush(nc_) == NATS_OK);
  }
  ~BusRecorder() {
    if (sub_) {
      natsSubscription_Unsubscribe(sub_);
      natsSubscription_Destroy(sub_);
    }
    if (nc_) {
      natsConnection_Close(nc_);
      natsConnection_Destroy(nc_);
    }
  }
  struct Seen {
    std::string subject, headers, payload;
  };
  std::vector<Seen> snapshot() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  uint64_t dropped() {
    int64_t d = 0;
    natsSubscription_GetDropped(sub_, &d);
    return static_cast<uint64_t>(d);
  }

 private:
  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<BusRecorder*>(closure);
    Seen s;
    s.subject = natsMsg_GetSubject(msg);
    if (const char* reply = natsMsg_GetReply(msg)) s.subject += std::string(" reply ") + reply;
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        const char** values = nullptr;
        int n = 0;
        s.headers += std::string(keys[i]) + ":";
        if (natsMsgHeader_Values(msg, keys[i], &values, &n) == NATS_OK) {
          for (int j = 0; j < n; ++j) s.headers += std::string(" ") + values[j];
          free(static_cast<void*>(values));
        }
        s.headers += "\n";
      }
      free(static_cast<void*>(keys));
    }
    if (natsMsg_GetDataLength(msg) > 0) s.payload.assign(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    std::lock_guard lock(self->mu_);
    self->seen_.push_back(std::move(s));
  }

  natsConnection* nc_ = nullptr;
  natsSubscription* sub_ = nullptr;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

// One canary: the text and whether it must stand alone (a birth date's digits inside a UID
// are not a birth date: only a match with no digit on either side counts).
struct Canary {
  std::string text;
  bool digits_bounded = false;
};

// Where `c` first occurs in `haystack` (std::string::npos: nowhere).
size_t find_canary(const std::string& haystack, const Canary& c) {
  for (size_t at = haystack.find(c.text); at != std::string::npos; at = haystack.find(c.text, at + 1)) {
    if (!c.digits_bounded) return at;
    auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
    bool before = at > 0 && digit(haystack[at - 1]);
    bool after = at + c.text.size() < haystack.size() && digit(haystack[at + c.text.size()]);
    if (!before && !after) return at;
  }
  return std::string::npos;
}

// Every canary found in `text` from `where`, with a little context, one line each.
std::string hits(const std::string& where, const std::string& text, const std::vector<Canary>& canaries) {
  std::string out;
  for (const auto& c : canaries) {
    size_t at = find_canary(text, c);
    if (at == std::string::npos) continue;
    size_t from = at > 60 ? at - 60 : 0;
    std::string context = text.substr(from, c.text.size() + 120);
    for (char& ch : context)
      if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
    out += where + ": '" + c.text + "' in ..." + context + "...\n";
  }
  return out;
}

std::string random_prefix() {
  std::random_device rd;
  std::string p = "CNRY";
  const char* alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ";
  for (int i = 0; i < 4; ++i) p += alphabet[rd() % 24];
  return p;
}

}  // namespace

TEST_CASE("No PatientName, PatientID, AccessionNumber or birth date in logs, metrics or bus messages", "[e2e][phi]") {
  const std::string prefix = random_prefix();
  PipelineFixture::Options o;
  o.canary = prefix;
  o.site_tail = "log: {level: debug}\n";
  PipelineFixture f("e2e-canary", o);
  INFO("canary prefix " << prefix << ", test dir " << f.dir());

  // The canaries: the prefix covers every name, id and accession; birth dates one by one.
  std::vector<Canary> canaries{{prefix, false}};
  for (const auto& s : f.manifest()["studies"]) {
    REQUIRE(s["patient_id"].get<std::string>().rfind(prefix, 0) == 0);
    canaries.push_back({s["patient_birth_date"].get<std::string>(), true});
  }

  BusRecorder bus(f.nats_url());
  f.upload_part("initial");
  f.start_all();
  const long settled_needed = f.expected_settled();
  const bool settled = f.wait_count("SELECT count(*) FROM studies WHERE state IN ('completed', 'unsupported', 'failed')",
                                    settled_needed, 100);
  if (!settled)
    for (const auto& s : PipelineFixture::services()) UNSCOPED_INFO(s << " log:\n" << f.service_log(s));
  REQUIRE(settled);
  // Wait for every DispatchDone to be relayed from the outbox onto the bus.
  CHECK(f.wait_count("SELECT count(*) FROM studies WHERE state = 'completed'", 1, 10));
  CHECK(wait_for([&] { return f.count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0; },
                 std::chrono::seconds(30), std::chrono::milliseconds(200)));

  // Positive controls: the canaries are really in the ledger (so they crossed the pipeline).
  CHECK(f.count("SELECT count(*) FROM studies WHERE accession_number LIKE '" + prefix + "%' AND patient_id LIKE '" +
                prefix + "%'") >= settled_needed);

  std::string found;
  // Every /metrics page, while the services run.
  for (const auto& s : PipelineFixture::services()) {
    fs::path page = f.dir() / (s + ".metrics");
    REQUIRE(run_command({"curl", "-s", "--max-time", "5",
                         "http://127.0.0.1:" + std::to_string(f.metrics_port(s)) + "/metrics"},
                        std::chrono::seconds(10), page) == 0);
    std::string text = read_file(page);
    CHECK(text.find("pacspull_") != std::string::npos);
    found += hits(s + " /metrics", text, canaries);
  }
  f.stop_all();  // every log line written

  // Every service log, at debug level (few lines are debug: the receiver's associations are).
  long debug_lines = 0;
  for (const auto& s : PipelineFixture::services()) {
    std::string log = read_file(f.dir() / (s + ".log"));
    CHECK(log.find("started (site e2e") != std::string::npos);
    for (size_t at = log.find(" debug "); at != std::string::npos; at = log.find(" debug ", at + 1)) ++debug_lines;
    found += hits(s + " log", log, canaries);
  }
  CHECK(debug_lines > 0);

  // Every message that crossed nats-server.
  auto seen = bus.snapshot();
  CHECK(bus.dropped() == 0);
  long dispatch_done = 0, move_requests = 0;
  for (const auto& m : seen) {
    if (m.subject.rfind("pacspull.dispatch.done", 0) == 0) ++dispatch_done;
    if (m.subject.rfind("pacspull.move.request", 0) == 0) ++move_requests;
    found += hits("bus " + m.subject, m.subject + "\n" + m.headers + "\n" + m.payload, canaries);
  }
  INFO(seen.size() << " bus messages seen");
  CHECK(move_requests >= settled_needed);
  CHECK(dispatch_done >= 1);

  INFO("canaries found:\n" << found);
  CHECK(found.empty());
}
