#pragma once
// NATS JetStream adapter: streams, durable pull consumers, idempotent publishing.
//
// Delivery contract (why the API looks like this): JetStream is a transport, not the
// truth. nats-server 2.9 fsyncs its store only every 2 minutes and forgets the
// de-duplication window when it restarts, so the Postgres ledger is authoritative, every
// consumer is idempotent by UID, and a reconciler re-publishes work the ledger says is
// unfinished. This adapter therefore gives at-least-once delivery and makes re-publishing
// cheap (same msg_id => Duplicate inside the window) and redelivery explicit (ack only
// after the handler's ledger commit; anything not acked comes back after ack_wait).
//
// No NATS header leaks out of this file: callers see bytes, subjects and status values.
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pacspull::bus {

// Thrown by connect/ensure_*/pull: start-up and configuration failures that the
// caller cannot work around by waiting (or, with retryable() == true, a peer that is
// not there yet; the composition root decides whether to wait or exit).
class BusError : public std::runtime_error {
 public:
  BusError(const std::string& what, bool retryable) : std::runtime_error(what), retryable_(retryable) {}
  bool retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

struct StreamSpec {
  std::string name;                   // no '.', '*', '>' (JetStream rule)
  std::vector<std::string> subjects;  // e.g. {"pacspull.move.request"}
  std::chrono::seconds max_age{7 * 24 * 3600};
  std::chrono::seconds duplicate_window{120};
  bool work_queue = false;  // WorkQueue retention: a message is removed once acked
  int64_t max_bytes = -1;   // -1: unlimited; when full the oldest messages go (discard old)
};

struct ConsumerSpec {
  std::string stream;
  std::string durable;         // durable name, no '.'
  std::string filter_subject;  // empty: every subject of the stream
  std::chrono::seconds ack_wait{60};
  int max_deliver = -1;  // -1: redeliver forever (the handler parks poison itself)
  int max_ack_pending = 1000;
};

enum class PublishStatus {
  Ok,         // stored; `sequence` is the stream sequence
  Duplicate,  // the server already holds this msg_id inside its duplicate window
  Retryable,  // not stored as far as we know (outage, timeout, no JetStream yet); try later
  Permanent,  // the server refused it (too large, no such stream for a bad config...)
};

struct PublishResult {
  PublishStatus status = PublishStatus::Permanent;
  std::string error;  // empty on Ok/Duplicate
  uint64_t sequence = 0;
  bool ok() const noexcept { return status == PublishStatus::Ok || status == PublishStatus::Duplicate; }
};

const char* to_string(PublishStatus s) noexcept;

struct Options {
  std::string url = "nats://127.0.0.1:4222";  // or a comma-separated list of servers
  std::string name;                           // connection name shown by the server
  std::chrono::milliseconds connect_timeout{2000};
  int connect_attempts = 5;  // first connection: give up (throw) after this many tries
  std::chrono::milliseconds reconnect_wait{500};
  // Time the server has to answer a JetStream API call (stream/consumer management,
  // acks, one publish attempt).
  std::chrono::milliseconds request_timeout{5000};
  int publish_attempts = 5;
  std::chrono::milliseconds publish_backoff{200};  // doubled per attempt, capped at 5 s
  std::chrono::milliseconds publish_timeout{2000};  // one attempt's wait for the PubAck
  // Replicas of every stream ensure_stream creates or updates (1: one server; a JetStream
  // cluster of 3 takes 3). More than the cluster's servers fails stream creation.
  int stream_replicas = 1;

  // Credentials (issue 11 part 4), at most one kind: user + password, a token, or a NATS
  // credentials file (user JWT + nkey seed, `nsc` output). Empty: none (or in the url as
  // nats://user:password@host, which log lines never show).
  std::string user;
  std::string password;
  std::string token;
  std::string credentials_file;
  // TLS: required when `tls` is set, a url is tls://, or any file below is given. ca_file
  // verifies the server (empty: the system's trust store); cert_file + key_file are our
  // client certificate for servers that verify clients (mutual TLS).
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Reply subjects (JetStream API answers, fetched messages) start with this instead of
  // _INBOX, so a server can let each user subscribe only to its own replies
  // (deploy/nats/nats-server.conf: _INBOX_<user>.>). Empty: _INBOX.
  std::string inbox_prefix;
};

// `url` without user information ("nats://user:secret@host:4222" -> "nats://host:4222"),
// for log lines and error messages.
std::string redact_url(const std::string& url);

// Monotonic counters since connect(); the services export them (the bus itself does not
// depend on any metrics library). Read with Bus::counters(); values are a snapshot.
struct Counters {
  uint64_t published = 0;          // PublishStatus::Ok
  uint64_t duplicates = 0;         // PublishStatus::Duplicate
  uint64_t publish_retries = 0;    // extra attempts inside publish()
  uint64_t publish_failures = 0;   // Retryable or Permanent results
  uint64_t acked = 0;
  uint64_t ack_failures = 0;       // ack/nak/term/in_progress that the server did not confirm
  uint64_t naked = 0;
  uint64_t parked = 0;             // term
  uint64_t fetch_errors = 0;       // fetches that failed for a reason other than "no messages"
  uint64_t disconnects = 0;
  uint64_t reconnects = 0;
};

class Bus;
class Puller;

// One delivered JetStream message. Exactly one of ack/nak/term should be called; a
// message dropped without any of them is redelivered after the consumer's ack_wait.
// Settling calls wait for the server's confirmation (request/reply), so `true` means the
// server recorded it; `false` means it did not (logged, counted) and the message will
// come back. Thread-safety: a Message may be moved to and settled from any thread, but
// not concurrently from two. It keeps its subscription and connection alive, so it may
// outlive the Puller and the Bus that produced it.
class Message {
 public:
  Message(Message&&) noexcept;
  Message& operator=(Message&&) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message();

  const std::string& subject() const;
  std::string_view data() const;
  std::string msg_id() const;        // Nats-Msg-Id header, empty if none
  uint64_t delivered() const;        // delivery count, 1 on first delivery
  uint64_t stream_sequence() const;  // stable across redeliveries
  bool settled() const;              // one of ack/nak/term succeeded

  bool ack();                                      // synchronous ack (AckSync)
  bool nak(std::chrono::milliseconds delay = {});  // redeliver after delay (0: now)
  bool term();                                     // never redeliver (park in ledger first)
  bool in_progress();                              // restart the ack_wait clock

  struct Impl;

 private:
  friend class Puller;
  explicit Message(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A binding to an existing durable pull consumer. Destroying it never deletes the
// durable. Thread-safety: one thread at a time may call fetch.
class Puller {
 public:
  ~Puller();
  Puller(const Puller&) = delete;
  Puller& operator=(const Puller&) = delete;

  // Up to `max` messages, waiting at most `timeout` (milliseconds granularity). Empty on
  // timeout, while disconnected, or on error; never throws for those (they are logged and
  // counted). If the durable vanished (server lost its store), it is re-created from the
  // ConsumerSpec (and its stream from the last StreamSpec given to ensure_stream).
  std::vector<Message> fetch(int max, std::chrono::milliseconds timeout);
  const ConsumerSpec& spec() const;

  struct Impl;

 private:
  friend class Bus;
  explicit Puller(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One NATS connection plus its JetStream context. Thread-safe: publish, ensure_*, pull
// and connected may be called from any thread concurrently.
class Bus {
 public:
  // Connects, retrying up to connect_attempts times (each bounded by connect_timeout);
  // throws BusError(retryable=true) if no server answered. After the first success the
  // client reconnects forever in the background; buffered work is never replayed
  // blindly (see publish).
  static std::unique_ptr<Bus> connect(const Options& options);
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // Create or update the stream; idempotent. Throws BusError on refusal (e.g. a change
  // JetStream cannot apply in place, like switching retention) or when the server
  // cannot be reached.
  void ensure_stream(const StreamSpec& spec);
  // Create the durable if missing, update its mutable settings if they differ;
  // idempotent. Throws BusError like ensure_stream.
  void ensure_consumer(const ConsumerSpec& spec);
  bool consumer_exists(const std::string& stream, const std::string& durable);
  // Messages in the stream right now (for tests and health checks); throws BusError.
  uint64_t stream_messages(const std::string& stream);

  // JetStream publish with a Nats-Msg-Id header. Retries timeouts, no-responders and
  // disconnections up to publish_attempts with exponential backoff, then returns
  // Retryable. Bounded: while disconnected an attempt fails at once, so the call takes
  // about the sum of the backoffs (defaults: 0.2+0.4+0.8+1.6 s = 3 s, less if the link
  // comes back); connected but unanswered, attempts * publish_timeout more. While
  // disconnected nothing is handed to libnats' reconnect buffer. A Retryable result
  // after a timeout may still have been stored: re-publishing with the same msg_id then
  // answers Duplicate (inside the window) or stores a second copy (after a server
  // restart), which idempotent consumers absorb. msg_id must be stable for the same
  // logical event (e.g. "<study uid>:received:<n>") so re-publishing is harmless. No
  // responders can mean the stream vanished with the server's store: the streams given
  // to ensure_stream are then re-created. Thread-safe.
  PublishResult publish(const std::string& subject, std::string_view payload, const std::string& msg_id);

  // Binds to the existing durable (ensure_consumer first). Throws BusError if the
  // consumer does not exist or the server cannot be reached.
  std::unique_ptr<Puller> pull(const ConsumerSpec& spec);

  bool connected() const;
  // Waits until connected or `timeout` passed; returns connected().
  bool wait_connected(std::chrono::milliseconds timeout) const;
  Counters counters() const;
  const Options& options() const;

  struct Impl;

 private:
  explicit Bus(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace pacspull::bus
