// libnats (NATS.c 3.4.x) behind the pacspull::bus API. Units: libnats stream/consumer
// durations are nanoseconds, request/fetch timeouts milliseconds; everything crossing
// this file's boundary is std::chrono.
#include "pacspull/bus/bus.hpp"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace pacspull::bus {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kMsgIdHeader = "Nats-Msg-Id";

int64_t to_nanos(std::chrono::nanoseconds d) { return d.count(); }
int64_t to_millis(milliseconds d) { return std::max<int64_t>(1, d.count()); }

// Human-readable failure: the status text plus libnats' thread-local detail (which
// carries the server's JetStream error description) and the JetStream error code.
std::string describe(natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::string text = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  // The detail is thread-local and sticky: use it only if it belongs to this failure.
  if (last == s && detail != nullptr && *detail != '\0' && text != detail) text += std::string(": ") + detail;
  if (jerr != 0) text += " (jetstream error " + std::to_string(static_cast<int>(jerr)) + ")";
  return text;
}

// Failures that go away by waiting: the peer is down, restarting or slow.
bool transient(natsStatus s, jsErrCode jerr) {
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_CONNECTION_CLOSED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_NO_SERVER:
    case NATS_DRAINING:
      return true;
    default:
      break;
  }
  switch (static_cast<int>(jerr)) {
    case JSClusterNotAvailErr:
    case JSInsufficientResourcesErr:
    case JSStreamStoreFailedErr:
    case JSNotEnabledErr:
      return true;
    default:
      return false;
  }
}

// libnats calls its connection callbacks on its own threads, possibly after the Bus is
// gone. The callbacks therefore find their target through this registry by id, and
// the target (Signals) owns no NATS object, so dropping the last reference inside a
// callback cannot re-enter libnats.
struct Signals {
  std::mutex mutex;
  std::condition_variable changed;
  std::string name;
  std::atomic<uint64_t> published{0}, duplicates{0}, publish_retries{0}, publish_failures{0}, acked{0},
      ack_failures{0}, naked{0}, parked{0}, fetch_errors{0}, disconnects{0}, reconnects{0};

  void notify() {
    std::lock_guard lock(mutex);
    changed.notify_all();
  }
};

class SignalRegistry {
 public:
  static SignalRegistry& instance() {
    static SignalRegistry registry;
    return registry;
  }
  uintptr_t add(std::weak_ptr<Signals> s) {
    std::lock_guard lock(mutex_);
    uintptr_t id = ++next_;
    entries_[id] = std::move(s);
    return id;
  }
  void remove(uintptr_t id) {
    std::lock_guard lock(mutex_);
    entries_.erase(id);
  }
  std::shared_ptr<Signals> find(void* closure) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(reinterpret_cast<uintptr_t>(closure));
    return it == entries_.end() ? nullptr : it->second.lock();
  }

 private:
  std::mutex mutex_;
  uintptr_t next_ = 0;
  std::map<uintptr_t, std::weak_ptr<Signals>> entries_;
};

void on_disconnected(natsConnection* nc, void* closure) {
  // libnats also reports a disconnect when the Bus closes the connection on purpose.
  if (natsConnection_IsClosed(nc)) return;
  if (auto s = SignalRegistry::instance().find(closure)) {
    ++s->disconnects;
    spdlog::warn("bus[{}]: disconnected from NATS; reconnecting in the background", s->name);
    s->notify();
  }
}

void on_reconnected(natsConnection*, void* closure) {
  if (auto s = SignalRegistry::instance().find(closure)) {
    ++s->reconnects;
    spdlog::info("bus[{}]: reconnected to NATS", s->name);
    s->notify();
  }
}

void on_closed(natsConnection*, void* closure) {
  if (auto s = SignalRegistry::instance().find(closure)) s->notify();
}

void on_async_error(natsConnection*, natsSubscription*, natsStatus err, void* closure) {
  auto s = SignalRegistry::instance().find(closure);
  spdlog::warn("bus[{}]: asynchronous NATS error: {}", s ? s->name : std::string(), natsStatus_GetText(err));
}

}  // namespace

std::string redact_url(const std::string& url) {
  std::string out;
  bool first = true;
  for (size_t start = 0; start <= url.size();) {
    size_t comma = url.find(',', start);
    if (comma == std::string::npos) comma = url.size();
    std::string one = url.substr(start, comma - start);
    size_t scheme = one.find("://");
    size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    size_t at = one.find('@', host);
    if (at != std::string::npos) one.erase(host, at + 1 - host);
    if (!first) out += ",";
    out += one;
    first = false;
    start = comma + 1;
  }
  return out;
}

const char* to_string(PublishStatus s) noexcept {
  switch (s) {
    case PublishStatus::Ok: return "ok";
    case PublishStatus::Duplicate: return "duplicate";
    case PublishStatus::Retryable: return "retryable";
    case PublishStatus::Permanent: return "permanent";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------
// Bus::Impl: owns the connection and JetStream context. Pullers and Messages hold it by
// shared_ptr, so the connection outlives every object that still needs it.

struct Bus::Impl {
  Options options;
  std::shared_ptr<Signals> signals = std::make_shared<Signals>();
  uintptr_t registry_id = 0;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;

  std::mutex specs_mutex;
  std::map<std::string, StreamSpec> streams;  // last spec per stream, for self-healing
  Clock::time_point last_stream_heal{};

  ~Impl() {
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) {
      natsConnection_Close(nc);
      natsConnection_Destroy(nc);
    }
    if (registry_id != 0) SignalRegistry::instance().remove(registry_id);
  }

  bool connected() const { return nc != nullptr && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED; }

  bool wait_connected(milliseconds timeout) const {
    auto deadline = Clock::now() + timeout;
    std::unique_lock lock(signals->mutex);
    while (!connected()) {
      auto now = Clock::now();
      if (now >= deadline) return false;
      // Sliced wait: the status flips inside libnats before the callback notifies.
      signals->changed.wait_until(lock, std::min(deadline, now + milliseconds(100)));
    }
    return true;
  }

  jsOptions api_options() const {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = to_millis(options.request_timeout);
    return o;
  }

  // Management calls never go to the reconnect buffer: wait a little for the link,
  // else fail as retryable.
  void require_connected(const std::string& what) const {
    if (!wait_connected(options.request_timeout))
      throw BusError(what + ": not connected to NATS", true);
  }

  void ensure_stream(const StreamSpec& spec, bool remember);
  void ensure_consumer(const ConsumerSpec& spec);
  bool consumer_exists(const std::string& stream, const std::string& durable);
  void heal_streams();
  bool settle(natsMsg* msg, std::string_view body, const char* what);
};

namespace {

void validate_name(const std::string& name, const char* what) {
  if (name.empty() || name.find_first_of(".*> \t") != std::string::npos)
    throw BusError(std::string(what) + " name '" + name + "' is empty or contains '.', '*', '>' or blanks", false);
}

}  // namespace

void Bus::Impl::ensure_stream(const StreamSpec& spec, bool remember) {
  validate_name(spec.name, "stream");
  if (spec.subjects.empty()) throw BusError("stream " + spec.name + ": no subjects", false);
  if (spec.max_age.count() > 0 && spec.duplicate_window > spec.max_age)
    throw BusError("stream " + spec.name + ": duplicate_window exceeds max_age", false);
  require_connected("ensure_stream " + spec.name);

  std::vector<const char*> subjects;
  for (const auto& s : spec.subjects) subjects.push_back(s.c_str());
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = spec.name.c_str();
  cfg.Subjects = subjects.data();
  cfg.SubjectsLen = static_cast<int>(subjects.size());
  cfg.Retention = spec.work_queue ? js_WorkQueuePolicy : js_LimitsPolicy;
  cfg.Storage = js_FileStorage;
  cfg.Discard = js_DiscardOld;
  cfg.MaxAge = to_nanos(spec.max_age);
  cfg.Duplicates = to_nanos(spec.duplicate_window);
  cfg.MaxBytes = spec.max_bytes;
  cfg.Replicas = options.stream_replicas;

  jsOptions o = api_options();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  // The server answers "create" with success when an identical stream exists, and with
  // JSStreamNameExistErr when the configuration differs: then it is an update.
  natsStatus s = js_AddStream(nullptr, js, &cfg, &o, &jerr);
  if (s != NATS_OK && jerr == JSStreamNameExistErr) {
    jerr = static_cast<jsErrCode>(0);
    s = js_UpdateStream(nullptr, js, &cfg, &o, &jerr);
    if (s == NATS_OK) spdlog::info("bus: stream {} updated to the configured settings", spec.name);
  }
  if (s != NATS_OK) {
    std::string err = describe(s, jerr);
    spdlog::error("bus: ensure_stream {} failed: {}", spec.name, err);
    throw BusError("ensure_stream " + spec.name + ": " + err, transient(s, jerr));
  }
  if (remember) {
    std::lock_guard lock(specs_mutex);
    streams[spec.name] = spec;
  }
}

void Bus::Impl::heal_streams() {
  std::vector<StreamSpec> specs;
  {
    std::lock_guard lock(specs_mutex);
    auto now = Clock::now();
    if (now - last_stream_heal < std::chrono::seconds(2)) return;
    last_stream_heal = now;
    for (const auto& [name, spec] : streams) specs.push_back(spec);
  }
  for (const auto& spec : specs) {
    try {
      jsOptions o = api_options();
      jsErrCode jerr = static_cast<jsErrCode>(0);
      jsStreamInfo* si = nullptr;
      natsStatus s = js_GetStreamInfo(&si, js, spec.name.c_str(), &o, &jerr);
      if (si != nullptr) jsStreamInfo_Destroy(si);
      if (s == NATS_OK || !(s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)) continue;
      spdlog::warn("bus: stream {} is missing (server lost its store?); re-creating it", spec.name);
      ensure_stream(spec, false);
    } catch (const BusError& e) {
      spdlog::warn("bus: re-creating stream {} failed: {}", spec.name, e.what());
    }
  }
}

bool Bus::Impl::consumer_exists(const std::string& stream, const std::string& durable) {
  require_connected("consumer info " + stream + "/" + durable);
  jsOptions o = api_options();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsConsumerInfo* ci = nullptr;
  natsStatus s = js_GetConsumerInfo(&ci, js, stream.c_str(), durable.c_str(), &o, &jerr);
  if (ci != nullptr) jsConsumerInfo_Destroy(ci);
  if (s == NATS_OK) return true;
  if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr || jerr == JSStreamNotFoundErr) return false;
  throw BusError("consumer info " + stream + "/" + durable + ": " + describe(s, jerr), transient(s, jerr));
}

void Bus::Impl::ensure_consumer(const ConsumerSpec& spec) {
  validate_name(spec.stream, "stream");
  validate_name(spec.durable, "durable");
  if (spec.ack_wait.count() <= 0) throw BusError("consumer " + spec.durable + ": ack_wait must be positive", false);
  require_connected("ensure_consumer " + spec.stream + "/" + spec.durable);

  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = spec.durable.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.DeliverPolicy = js_DeliverAll;
  cc.FilterSubject = spec.filter_subject.empty() ? nullptr : spec.filter_subject.c_str();
  cc.AckWait = to_nanos(spec.ack_wait);
  cc.MaxDeliver = spec.max_deliver;
  cc.MaxAckPending = spec.max_ack_pending;

  jsOptions o = api_options();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsConsumerInfo* ci = nullptr;
  natsStatus s = js_GetConsumerInfo(&ci, js, spec.stream.c_str(), spec.durable.c_str(), &o, &jerr);
  if (s == NATS_OK) {
    const jsConsumerConfig* have = ci->Config;
    bool same = have != nullptr && have->AckWait == cc.AckWait && have->MaxDeliver == cc.MaxDeliver &&
                have->MaxAckPending == cc.MaxAckPending && have->AckPolicy == js_AckExplicit &&
                have->DeliverSubject == nullptr &&
                std::string(have->FilterSubject ? have->FilterSubject : "") == spec.filter_subject;
    jsConsumerInfo_Destroy(ci);
    if (same) return;
    jerr = static_cast<jsErrCode>(0);
    s = js_UpdateConsumer(nullptr, js, spec.stream.c_str(), &cc, &o, &jerr);
    if (s == NATS_OK) {
      spdlog::info("bus: consumer {}/{} updated to the configured settings", spec.stream, spec.durable);
      return;
    }
  } else if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
    // Created explicitly, never through a subscription: libnats deletes consumers it
    // created itself when that subscription is unsubscribed.
    jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(nullptr, js, spec.stream.c_str(), &cc, &o, &jerr);
    if (s == NATS_OK) {
      spdlog::info("bus: created durable consumer {}/{} (filter '{}')", spec.stream, spec.durable, spec.filter_subject);
      return;
    }
  }
  std::string err = describe(s, jerr);
  spdlog::error("bus: ensure_consumer {}/{} failed: {}", spec.stream, spec.durable, err);
  throw BusError("ensure_consumer " + spec.stream + "/" + spec.durable + ": " + err, transient(s, jerr));
}

// Settles a delivered message by request/reply on its ack subject: the server answers
// any ack kind (+ACK, -NAK, +TERM, +WPI) when a reply subject is given, so `true` means
// the server recorded it.
bool Bus::Impl::settle(natsMsg* msg, std::string_view body, const char* what) {
  const char* reply = natsMsg_GetReply(msg);
  if (reply == nullptr || *reply == '\0') {
    spdlog::warn("bus: cannot {} a message without a JetStream reply subject", what);
    ++signals->ack_failures;
    return false;
  }
  natsMsg* resp = nullptr;
  natsStatus s = connected() ? natsConnection_Request(&resp, nc, reply, body.data(), static_cast<int>(body.size()),
                                                      to_millis(options.request_timeout))
                             : NATS_CONNECTION_DISCONNECTED;
  if (resp != nullptr) natsMsg_Destroy(resp);
  if (s != NATS_OK) {
    ++signals->ack_failures;
    spdlog::warn("bus: {} of {} not confirmed ({}); the message will be redelivered after ack_wait", what,
                 natsMsg_GetSubject(msg), describe(s));
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Message

struct SubHandle {
  std::shared_ptr<Bus::Impl> bus;
  natsSubscription* sub = nullptr;
  // Destroy without Unsubscribe: the subscription was bound to an existing durable,
  // and a bound subscription never deletes it.
  ~SubHandle() {
    if (sub != nullptr) natsSubscription_Destroy(sub);
  }
};

struct Message::Impl {
  std::shared_ptr<SubHandle> sub;
  natsMsg* msg = nullptr;
  std::string subject;
  uint64_t delivered = 0;
  uint64_t stream_sequence = 0;
  bool settled = false;

  ~Impl() {
    if (msg != nullptr) natsMsg_Destroy(msg);
  }
};

Message::Message(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Message::Message(Message&&) noexcept = default;
Message& Message::operator=(Message&&) noexcept = default;
Message::~Message() = default;

const std::string& Message::subject() const { return impl_->subject; }

std::string_view Message::data() const {
  const char* d = natsMsg_GetData(impl_->msg);
  return d == nullptr ? std::string_view() : std::string_view(d, static_cast<size_t>(natsMsg_GetDataLength(impl_->msg)));
}

std::string Message::msg_id() const {
  const char* v = nullptr;
  if (natsMsgHeader_Get(impl_->msg, kMsgIdHeader, &v) == NATS_OK && v != nullptr) return v;
  return {};
}

uint64_t Message::delivered() const { return impl_->delivered; }
uint64_t Message::stream_sequence() const { return impl_->stream_sequence; }
bool Message::settled() const { return impl_->settled; }

namespace {
// libnats itself silently returns OK for a second settlement of the same message; say so.
bool refuse_if_settled(const Message::Impl& m, const char* what) {
  if (!m.settled) return false;
  spdlog::warn("bus: {} of {} seq {} ignored: the message was already settled", what, m.subject, m.stream_sequence);
  return true;
}
}  // namespace

bool Message::ack() {
  if (refuse_if_settled(*impl_, "ack")) return false;
  auto& bus = *impl_->sub->bus;
  jsOptions o = bus.api_options();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = bus.connected() ? natsMsg_AckSync(impl_->msg, &o, &jerr) : NATS_CONNECTION_DISCONNECTED;
  if (s != NATS_OK) {
    ++bus.signals->ack_failures;
    spdlog::warn("bus: ack of {} seq {} not confirmed ({}); it will be redelivered after ack_wait", impl_->subject,
                 impl_->stream_sequence, describe(s, jerr));
    return false;
  }
  ++bus.signals->acked;
  impl_->settled = true;
  return true;
}

bool Message::nak(std::chrono::milliseconds delay) {
  if (refuse_if_settled(*impl_, "nak")) return false;
  auto& bus = *impl_->sub->bus;
  // The server reads the delay as a Go duration in nanoseconds.
  std::string body = delay.count() > 0
                         ? "-NAK {\"delay\":" + std::to_string(std::chrono::nanoseconds(delay).count()) + "}"
                         : std::string("-NAK");
  if (!bus.settle(impl_->msg, body, "nak")) return false;
  ++bus.signals->naked;
  impl_->settled = true;
  return true;
}

bool Message::term() {
  if (refuse_if_settled(*impl_, "term")) return false;
  auto& bus = *impl_->sub->bus;
  if (!bus.settle(impl_->msg, "+TERM", "term")) return false;
  ++bus.signals->parked;
  impl_->settled = true;
  return true;
}

bool Message::in_progress() {
  if (refuse_if_settled(*impl_, "in_progress")) return false;
  return impl_->sub->bus->settle(impl_->msg, "+WPI", "in_progress");
}

// ---------------------------------------------------------------------------------------
// Puller

struct Puller::Impl {
  std::shared_ptr<Bus::Impl> bus;
  ConsumerSpec spec;
  std::shared_ptr<SubHandle> sub;
  Clock::time_point last_heal{};
  Clock::time_point last_warn{};
  uint64_t reconnects_seen = 0;

  // If the durable is gone (the server lost its store, or someone deleted it), re-create
  // it (and its stream) from the specs. A fetch on a missing durable just times out in
  // libnats 3.4.1 / nats-server 2.9 (no error), so this runs after every reconnect and
  // after a long quiet spell, not only on fetch errors.
  // Returns true when the durable is known to exist afterwards.
  bool heal(const std::string& why) {
    auto now = Clock::now();
    if (now - last_heal < std::chrono::seconds(2)) return false;
    last_heal = now;
    try {
      if (bus->consumer_exists(spec.stream, spec.durable)) return true;
      spdlog::warn("bus: durable {}/{} is missing ({}); re-creating it", spec.stream, spec.durable, why);
      bus->heal_streams();
      bus->ensure_consumer(spec);
      return true;
    } catch (const BusError& e) {
      spdlog::warn("bus: cannot re-create durable {}/{}: {}", spec.stream, spec.durable, e.what());
      return false;
    }
  }
};

Puller::Puller(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Puller::~Puller() = default;
const ConsumerSpec& Puller::spec() const { return impl_->spec; }

std::vector<Message> Puller::fetch(int max, std::chrono::milliseconds timeout) {
  std::vector<Message> out;
  if (max <= 0) return out;
  auto& p = *impl_;
  auto deadline = Clock::now() + timeout;
  // While disconnected, wait for the reconnect instead of handing a pull request to the
  // reconnect buffer (it would be replayed later for a fetch nobody waits for).
  if (!p.bus->wait_connected(timeout)) return out;
  if (uint64_t r = p.bus->signals->reconnects; r != p.reconnects_seen) {
    if (p.heal("checked after reconnect")) p.reconnects_seen = r;
  }
  auto remaining = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  if (remaining.count() <= 0) return out;

  natsMsgList list{};
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = natsSubscription_Fetch(&list, p.sub->sub, max, remaining.count(), &jerr);
  if (s == NATS_TIMEOUT) {
    if (p.last_heal == Clock::time_point{}) p.last_heal = Clock::now();  // fresh Puller: it just bound
    if (Clock::now() - p.last_heal > std::chrono::seconds(60)) p.heal("no message for a minute");
    return out;
  }
  if (s != NATS_OK) {
    ++p.bus->signals->fetch_errors;
    std::string err = describe(s, jerr);
    auto now = Clock::now();
    if (now - p.last_warn > std::chrono::seconds(10)) {
      p.last_warn = now;
      spdlog::warn("bus: fetch from {}/{} failed: {}", p.spec.stream, p.spec.durable, err);
    }
    p.heal(err);
    // Never spin on an error that comes back at once: use up the caller's timeout.
    std::unique_lock lock(p.bus->signals->mutex);
    p.bus->signals->changed.wait_until(lock, deadline, [&] { return false; });
    return out;
  }
  out.reserve(static_cast<size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) {
    auto impl = std::make_unique<Message::Impl>();
    impl->sub = p.sub;
    impl->msg = list.Msgs[i];
    list.Msgs[i] = nullptr;
    const char* subject = natsMsg_GetSubject(impl->msg);
    impl->subject = subject ? subject : "";
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, impl->msg) == NATS_OK && meta != nullptr) {
      impl->delivered = meta->NumDelivered;
      impl->stream_sequence = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
    out.push_back(Message(std::move(impl)));
  }
  natsMsgList_Destroy(&list);
  return out;
}

// ---------------------------------------------------------------------------------------
// Bus

Bus::Bus(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Bus::~Bus() = default;

std::unique_ptr<Bus> Bus::connect(const Options& options) {
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  impl->signals->name = options.name.empty() ? redact_url(options.url) : options.name;
  impl->registry_id = SignalRegistry::instance().add(impl->signals);
  void* closure = reinterpret_cast<void*>(impl->registry_id);

  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK) throw BusError("natsOptions_Create: " + describe(s), false);
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> guard(opts, natsOptions_Destroy);
  // Several servers (a cluster) as a comma-separated list.
  std::vector<std::string> urls;
  for (size_t start = 0; start <= options.url.size();) {
    size_t comma = options.url.find(',', start);
    if (comma == std::string::npos) comma = options.url.size();
    std::string one = options.url.substr(start, comma - start);
    one.erase(0, one.find_first_not_of(" \t"));
    one.erase(one.find_last_not_of(" \t") + 1);
    if (!one.empty()) urls.push_back(one);
    start = comma + 1;
  }
  if (urls.empty()) throw BusError("NATS url is empty", false);
  std::vector<const char*> url_ptrs;
  for (const auto& u : urls) url_ptrs.push_back(u.c_str());
  s = urls.size() == 1 ? natsOptions_SetURL(opts, url_ptrs[0])
                       : natsOptions_SetServers(opts, url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK && !options.name.empty()) s = natsOptions_SetName(opts, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, to_millis(options.connect_timeout));
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // negative: forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, to_millis(options.reconnect_wait));
  if (s == NATS_OK) s = natsOptions_SetReconnectJitter(opts, 100, 1000);
  // A request in flight when the link drops fails at once instead of waiting its timeout.
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(opts, true);
  // The default ping interval is 2 minutes: far too slow to notice a silent peer.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 10000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, on_closed, closure);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, on_async_error, closure);
  if (s != NATS_OK) throw BusError("NATS options: " + describe(s), false);

  // Credentials and TLS. A bad file or combination is a configuration error (not retryable).
  const int kinds = (!options.user.empty() || !options.password.empty() ? 1 : 0) + (!options.token.empty() ? 1 : 0) +
                    (!options.credentials_file.empty() ? 1 : 0);
  if (kinds > 1) throw BusError("NATS credentials: give one of user/password, token or a credentials file", false);
  if (!options.password.empty() && options.user.empty()) throw BusError("NATS credentials: a password needs a user", false);
  if (!options.user.empty()) {
    s = natsOptions_SetUserInfo(opts, options.user.c_str(), options.password.c_str());
    if (s != NATS_OK) throw BusError("NATS user: " + describe(s), false);
  }
  if (!options.token.empty()) {
    s = natsOptions_SetToken(opts, options.token.c_str());
    if (s != NATS_OK) throw BusError("NATS token: " + describe(s), false);
  }
  if (!options.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(opts, options.credentials_file.c_str(), nullptr);
    if (s != NATS_OK) throw BusError("NATS credentials file " + options.credentials_file + ": " + describe(s), false);
  }
  if (!options.inbox_prefix.empty()) {
    s = natsOptions_SetCustomInboxPrefix(opts, options.inbox_prefix.c_str());
    if (s != NATS_OK) throw BusError("NATS inbox prefix '" + options.inbox_prefix + "': " + describe(s), false);
  }
  const bool tls = options.tls || options.url.find("tls://") != std::string::npos || !options.tls_ca_file.empty() ||
                   !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (tls) {
    s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && !options.tls_ca_file.empty()) {
      s = natsOptions_LoadCATrustedCertificates(opts, options.tls_ca_file.c_str());
      if (s != NATS_OK) throw BusError("NATS TLS CA file " + options.tls_ca_file + ": " + describe(s), false);
    }
    if (s == NATS_OK && (!options.tls_cert_file.empty() || !options.tls_key_file.empty())) {
      if (options.tls_cert_file.empty() || options.tls_key_file.empty())
        throw BusError("NATS TLS: a client certificate needs both cert_file and key_file", false);
      s = natsOptions_LoadCertificatesChain(opts, options.tls_cert_file.c_str(), options.tls_key_file.c_str());
      if (s != NATS_OK)
        throw BusError("NATS TLS certificate " + options.tls_cert_file + " / key " + options.tls_key_file + ": " +
                           describe(s),
                       false);
    }
    if (s != NATS_OK) throw BusError("NATS TLS: " + describe(s), false);
  }

  int attempts = std::max(1, options.connect_attempts);
  std::string last_error;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    s = natsConnection_Connect(&impl->nc, opts);
    if (s == NATS_OK) break;
    impl->nc = nullptr;
    last_error = describe(s);
    // Refused credentials or permissions do not heal by waiting: fail at once, clearly.
    if (s == NATS_NOT_PERMITTED || last_error.find("Authorization") != std::string::npos)
      throw BusError("NATS at " + redact_url(options.url) + " refused our credentials: " + last_error, false);
    spdlog::warn("bus: connecting to {} failed (attempt {}/{}): {}", redact_url(options.url), attempt, attempts,
                 last_error);
    if (attempt < attempts) std::this_thread::sleep_for(std::max(options.reconnect_wait, milliseconds(100)));
  }
  if (impl->nc == nullptr)
    throw BusError("cannot connect to NATS at " + redact_url(options.url) + " after " + std::to_string(attempts) +
                       " attempts: " + last_error,
                   true);

  jsOptions jo = impl->api_options();
  s = natsConnection_JetStream(&impl->js, impl->nc, &jo);
  if (s != NATS_OK) throw BusError("JetStream context: " + describe(s), false);
  spdlog::info("bus: connected to NATS at {} as '{}'{}", redact_url(options.url), impl->signals->name,
               tls ? " (TLS)" : "");
  return std::unique_ptr<Bus>(new Bus(std::move(impl)));
}

void Bus::ensure_stream(const StreamSpec& spec) { impl_->ensure_stream(spec, true); }
void Bus::ensure_consumer(const ConsumerSpec& spec) { impl_->ensure_consumer(spec); }
bool Bus::consumer_exists(const std::string& stream, const std::string& durable) {
  return impl_->consumer_exists(stream, durable);
}

uint64_t Bus::stream_messages(const std::string& stream) {
  impl_->require_connected("stream info " + stream);
  jsOptions o = impl_->api_options();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, impl_->js, stream.c_str(), &o, &jerr);
  if (s != NATS_OK) throw BusError("stream info " + stream + ": " + describe(s, jerr), transient(s, jerr));
  uint64_t n = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  return n;
}

PublishResult Bus::publish(const std::string& subject, std::string_view payload, const std::string& msg_id) {
  auto& b = *impl_;
  auto& sig = *b.signals;
  PublishResult result;
  if (payload.size() > static_cast<size_t>(INT32_MAX)) {
    ++sig.publish_failures;
    result.status = PublishStatus::Permanent;
    result.error = "payload too large";
    return result;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.empty() ? nullptr : msg_id.c_str();
  po.MaxWait = to_millis(b.options.publish_timeout);

  int attempts = std::max(1, b.options.publish_attempts);
  milliseconds backoff = std::max(b.options.publish_backoff, milliseconds(1));
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) ++sig.publish_retries;
    bool was_connected = b.connected();
    natsStatus s = NATS_CONNECTION_DISCONNECTED;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    if (was_connected) {
      jsPubAck* ack = nullptr;
      s = js_Publish(&ack, b.js, subject.c_str(), payload.data(), static_cast<int>(payload.size()), &po, &jerr);
      if (s == NATS_OK) {
        result.sequence = ack->Sequence;
        result.status = ack->Duplicate ? PublishStatus::Duplicate : PublishStatus::Ok;
        jsPubAck_Destroy(ack);
        ++(result.status == PublishStatus::Ok ? sig.published : sig.duplicates);
        result.error.clear();
        return result;
      }
      if (ack != nullptr) jsPubAck_Destroy(ack);
    }
    result.error = describe(s, jerr);
    if (!transient(s, jerr)) {
      ++sig.publish_failures;
      result.status = PublishStatus::Permanent;
      spdlog::error("bus: publish {} msg_id {} refused: {}", subject, msg_id, result.error);
      return result;
    }
    // No responders right after a server restart can mean the stream is gone with the
    // store: put back the streams this process declared.
    if (s == NATS_NO_RESPONDERS) b.heal_streams();
    spdlog::debug("bus: publish {} attempt {}/{} failed: {}", subject, attempt, attempts, result.error);
    if (attempt == attempts) break;
    if (was_connected) {
      std::this_thread::sleep_for(backoff);
    } else {
      b.wait_connected(backoff);  // resume as soon as the link is back
    }
    backoff = std::min(backoff * 2, milliseconds(5000));
  }
  ++sig.publish_failures;
  result.status = PublishStatus::Retryable;
  spdlog::warn("bus: publish {} msg_id {} failed after {} attempts: {}", subject, msg_id, attempts, result.error);
  return result;
}

std::unique_ptr<Puller> Bus::pull(const ConsumerSpec& spec) {
  impl_->require_connected("pull " + spec.stream + "/" + spec.durable);
  jsOptions o = impl_->api_options();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = spec.stream.c_str();
  so.Consumer = spec.durable.c_str();  // bind: never create (or later delete) a consumer
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsSubscription* sub = nullptr;
  // libnats wants a subject even when binding; an unfiltered consumer takes any.
  const char* subject = spec.filter_subject.empty() ? ">" : spec.filter_subject.c_str();
  natsStatus s = js_PullSubscribe(&sub, impl_->js, subject, spec.durable.c_str(), &o, &so, &jerr);
  if (s != NATS_OK) {
    std::string err = describe(s, jerr);
    spdlog::error("bus: binding to durable {}/{} failed: {}", spec.stream, spec.durable, err);
    throw BusError("pull " + spec.stream + "/" + spec.durable + ": " + err, transient(s, jerr));
  }
  auto handle = std::make_shared<SubHandle>();
  handle->bus = impl_;
  handle->sub = sub;
  auto p = std::make_unique<Puller::Impl>();
  p->bus = impl_;
  p->spec = spec;
  p->sub = std::move(handle);
  p->reconnects_seen = impl_->signals->reconnects;
  return std::unique_ptr<Puller>(new Puller(std::move(p)));
}

bool Bus::connected() const { return impl_->connected(); }
bool Bus::wait_connected(std::chrono::milliseconds timeout) const { return impl_->wait_connected(timeout); }
const Options& Bus::options() const { return impl_->options; }

Counters Bus::counters() const {
  const auto& s = *impl_->signals;
  Counters c;
  c.published = s.published;
  c.duplicates = s.duplicates;
  c.publish_retries = s.publish_retries;
  c.publish_failures = s.publish_failures;
  c.acked = s.acked;
  c.ack_failures = s.ack_failures;
  c.naked = s.naked;
  c.parked = s.parked;
  c.fetch_errors = s.fetch_errors;
  c.disconnects = s.disconnects;
  c.reconnects = s.reconnects;
  return c;
}

}  // namespace pacspull::bus
