#pragma once
// C-STORE SCP for the receiver service: accepts associations, stores each instance
// durably under storage_path(), and only then hands it to the sink and answers success.
//
// Per instance: the dataset is streamed as received (same transfer syntax, bit for bit,
// with a meta header) into <storage_root>/.incoming/*.tmp, fdatasynced, its header parsed
// (up to PixelData), renamed to storage_path() without replacing a copy already there (a
// second copy is compared by its dataset bytes: same = a duplicate, different = kept under
// .conflicts), the directory fsynced (one fsync shared by the placements into one directory
// that wait for it at the same time), the sink called, and only then C-STORE-RSP sent (the
// steps are detail::place_received, shared with the C-GET SCU). Answers: 0x0000 success;
// 0xA700 out of resources (write/fsync/rename error, disk full, sink RetryLater or throws:
// the sender retries); 0xC000 cannot understand (unparsable dataset, no SOPInstanceUID).
// Each failure of ours is logged where it happens and counted (Counters: disk_failures,
// parse_failures, refused).
// Accepted: Verification and every storage SOP class DCMTK knows (dcmAllStorageSOPClassUIDs),
// uncompressed preferred, else lossless then lossy JPEG / JPEG-LS / JPEG 2000 / RLE as the
// sender proposes. One thread per association; the accept thread reads each A-ASSOCIATE-RQ
// itself (bounded by acse_timeout), so a client that connects and stays silent delays the
// next association by up to acse_timeout (as in DCMTK's DcmSCPPool).
//
// Access (issue 11): an association is accepted only from a caller the CallerPolicy admits
// (calling AE title, optionally its address); others get A-ASSOCIATE-RJ (permanent, "calling
// AE title not recognized"), a log line naming the calling AE and peer address, and a count
// by reason. An instance the `admit` hook refuses (an unsolicited study) is answered 0x0124
// (refused: not authorized) and not stored. With `tls.enabled` every association is DICOM
// TLS (a plain or untrusted client fails the handshake: counted as rejected_tls).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pacspull/core/attributes.hpp"
#include "pacspull/core/ids.hpp"
#include "pacspull/dicom/types.hpp"
#include "pacspull/pipeline/access.hpp"

namespace pacspull::dicom {

class StoreScp {
 public:
  // Whether an instance may be stored, decided after its header was read and before it is
  // placed. Called from association threads, concurrently. An exception answers 0xA700 (the
  // sender retries: e.g. the ledger is down).
  struct Admission {
    bool admitted = true;
    std::string reason;  // when refused: why, for the log line ("unsolicited: ...")
  };
  using Admit = std::function<Admission(const core::AttributeMap& attributes, const core::AeTitle& calling,
                                        const std::string& peer)>;

  // The stages of one C-STORE, in order (issue 7: where the time of one C-STORE goes).
  struct StageTimes {
    std::chrono::nanoseconds receive{0};  // the dataset's PDVs streamed into the temp file, closed
    std::chrono::nanoseconds sync{0};     // the temp file's fdatasync
    std::chrono::nanoseconds place{0};    // parse, admit, directories, rename
    std::chrono::nanoseconds dir_sync{0}; // the new entry's directory fsync (shared)
    std::chrono::nanoseconds sink{0};     // the sink (the receiver: its ledger group commit)
    std::chrono::nanoseconds respond{0};  // sending the C-STORE-RSP
    bool success = false;
  };
  struct Options {
    core::AeTitle ae_title;  // the called AE title we answer to; others are rejected
    uint16_t port = 0;       // 0 = ephemeral, start() returns the bound port
    std::string bind_host = "0.0.0.0";
    std::filesystem::path storage_root;
    // Who may associate (pipeline::admit_caller). Empty and not accept_any = nobody (start()
    // warns); accept_any = anybody (start() warns loudly).
    pipeline::CallerPolicy callers;
    Admit admit;     // optional: refuses instances (0x0124) before they are placed
    TlsOptions tls;  // DICOM TLS on the listening port (needs certificate and private key)
    std::chrono::seconds acse_timeout{30};
    std::chrono::seconds dimse_timeout{60};
    size_t max_associations = 8;  // above this, new associations are rejected (transient), not queued
    // Temp files are named rx-<host>-<pid>-<random>-<sequence>.tmp (pipeline/storage.hpp):
    // unique across receivers sharing one store. `host`: the host or pod name (empty =
    // gethostname()). At start(), a temp file is removed only when it is this host's and its
    // writer no longer runs (or is our own pid reused), or older than stale_temp_age.
    std::string host;
    std::chrono::seconds stale_temp_age{3600};
    // Optional: called once per C-STORE that was written (success or not), after its
    // response was sent, from the association's thread: where its time went.
    std::function<void(const StageTimes&)> on_timed;
  };
  enum class Arrival { New, Again, Conflict };
  struct Stored {
    std::filesystem::path path;  // the instance's file (the first copy)
    Arrival arrival = Arrival::New;
    std::filesystem::path conflict_path;  // Conflict: where the second copy was kept
    core::AttributeMap attributes;
    core::AeTitle calling_ae;
    std::string peer_host;
    uintmax_t bytes = 0;
  };
  enum class SinkResult { Ok, RetryLater /* answered 0xA700 out of resources: the sender retries */ };
  // Called from association worker threads, concurrently, after the file is durable at
  // `path` (fsynced, renamed, directory fsynced). Must be idempotent by SOP instance: a
  // duplicate send calls it again for the same path. An exception counts as RetryLater.
  using Sink = std::function<SinkResult(const Stored&)>;

  struct Counters {
    uint64_t associations = 0;  // accepted associations
    uint64_t stored = 0;        // instances answered Success
    uint64_t failed = 0;        // instances answered with a failure status
    uint64_t rejected = 0;      // associations rejected (any reason below, or no contexts, bad context, draining)
    uint64_t rejected_calling_ae = 0;  // calling AE title not allowed
    uint64_t rejected_address = 0;     // known calling AE title from an address it may not use
    uint64_t rejected_called_ae = 0;   // called another AE title than ours
    uint64_t rejected_busy = 0;        // max_associations busy (transient)
    uint64_t rejected_tls = 0;         // TLS on and the request failed (handshake: no/untrusted certificate, plain client)
    uint64_t not_admitted = 0;         // instances answered 0x0124: the admit hook refused them (unsolicited)
    uint64_t refused = 0;       // C-STOREs answered 0xA700 because the store is over its cap
    uint64_t disk_failures = 0;   // answered 0xA700: a create/write/fsync/mkdir/rename of ours failed
    uint64_t parse_failures = 0;  // answered 0xC000: the dataset did not parse, or had no SOPInstanceUID
  };

  StoreScp(Options options, Sink sink);
  ~StoreScp();  // stop()s
  StoreScp(const StoreScp&) = delete;
  StoreScp& operator=(const StoreScp&) = delete;

  // Binds, removes temp files a crash left behind, and starts the accept thread.
  // Returns the bound port. Throws std::runtime_error when it cannot listen (start-up
  // error) and std::invalid_argument for bad options. Call once.
  uint16_t start();
  // While set, every C-STORE is answered 0xA700 (out of resources) without touching the
  // disk: the sender retries later. Thread-safe; takes effect at the next C-STORE. The
  // same answer, whatever this flag, when the store has less than 16 MiB free.
  void set_refusing(bool refusing);
  // Graceful stop (SIGTERM): new associations are refused at once (the listen socket is
  // closed), associations in flight run until their peer releases them or `grace` ends,
  // then stop() aborts what is left at its next message boundary. Returns the number of
  // associations still open when the grace period ended.
  size_t drain(std::chrono::milliseconds grace);
  // Stops accepting; each running association is aborted at its next message boundary
  // (within ~1 s when idle; an instance being received is finished first, bounded by the
  // DIMSE timeout; a silent connection still in negotiation by acse_timeout). Joins all
  // threads. Idempotent. Counters stay readable afterwards.
  void stop();

  Counters counters() const;  // thread-safe

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pacspull::dicom
