#pragma once
// The site configuration: one YAML file read by every service (deploy/site.example.yaml
// documents every key). Unknown keys and bad values are rejected at load with the file
// and line at fault; any scalar can be overridden from the environment as
// PACSPULL_<PATH> (key path upper-cased, joined by '_', list items by index:
// PACSPULL_LEDGER_URL, PACSPULL_RECEIVER_DICOM_PORT, PACSPULL_PACS_0_HOST).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pacspull/core/ids.hpp"
#include "pacspull/core/timezone.hpp"
#include "pacspull/pipeline/access.hpp"
#include "pacspull/pipeline/capabilities.hpp"
#include "pacspull/pipeline/storage.hpp"
#include "pacspull/rules/rules.hpp"

namespace pacspull::config {

using Millis = std::chrono::milliseconds;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// DICOM TLS (PS3.15 Annex B, DCMTK dcmtls with OpenSSL) for one peer or for the receiver
// (issue 11 part 2). Keys and certificates are PEM files. `ca_certificates`: files or
// directories (hashed, c_rehash) of the CAs whose certificates we trust. `verify_peer`:
// the peer's certificate must chain to them (for the receiver: a client certificate is
// required); false = encryption only (logged as a warning at start).
struct DicomTls {
  bool enabled = false;
  std::string certificate;
  std::string private_key;
  std::vector<std::string> ca_certificates;
  bool verify_peer = true;
};

struct DicomNode {
  core::AeTitle ae_title;
  std::string host;
  uint16_t port = 0;
  DicomTls tls;  // `tls:` of this peer
};

struct PacsNode {
  std::string name;
  DicomNode node;
  size_t max_results = 0;
  // `retrieve:` move (C-MOVE to our receiver, the default), get (C-GET: the PACS sends
  // back on our own association; for firewalled sites where it cannot connect to us) or
  // auto (C-MOVE; C-GET in the same attempt when the PACS answers 0xA801, our AE unknown,
  // and its c_get capability is true, probed or pinned).
  std::string retrieve = "move";
  // `capabilities:` what the site pins instead of the probe's verdict (issue 9 part 1);
  // `pinned` names the keys given.
  pipeline::PacsCapabilities capability_pins;
  std::vector<std::string> pinned;
  // `addresses:` where its C-STOREs to our receiver may come from (IPs or CIDRs, IPv4 or
  // IPv6); empty: any address, as long as the calling AE title is node.ae_title.
  std::vector<pipeline::IpNetwork> addresses;
};

struct ServicePorts {
  uint16_t grpc_port = 0;
  uint16_t metrics_port = 0;
  std::string grpc_bind;  // `<service>.grpc_bind`: this service's own address (empty: grpc.bind)
};

// `grpc:` where the services' gRPC servers listen and who may call them (issue 11 part 3;
// README "gRPC security"). Mutating RPCs always need a token or a client certificate.
struct GrpcSecurity {
  std::string bind = "127.0.0.1";  // loopback unless the site opens it ("0.0.0.0" in containers)
  std::string tls_cert_file, tls_key_file;  // TLS when both are set (PEM)
  std::string ca_file;  // PEM CA: verifies client certificates (mTLS) and, for pullctl, the services'
  std::string client_cert = "none";  // none | optional | require (with ca_file: optional unless set)
  std::string token_file;            // bearer tokens, one `id:secret` per line
  std::string read_access;           // open | authenticated (default: authenticated once a token
                                     // file or CA is configured, open otherwise)
  bool read_requires_auth() const {
    return read_access.empty() ? !token_file.empty() || !ca_file.empty() : read_access == "authenticated";
  }
};

struct SiteConfig {
  std::string site;
  // The PostgreSQL connection string, with `ledger.user` / `ledger.password` (or
  // `ledger.password_file`, env PACSPULL_LEDGER_PASSWORD_FILE or PACSPULL_PG_PASSWORD_FILE)
  // folded in at load. libpq honours `sslmode` (and sslrootcert...) given in the url.
  std::string ledger_url;
  // `ledger.migrate`: auto (the default: migrate at start-up when connected as a role that
  // may, i.e. the schema's owner; otherwise only check the schema is current) or off (never;
  // the one-shot `pacspull-<service> --migrate` with the owner role does it).
  std::string ledger_migrate = "auto";
  std::string bus_url;
  // NATS credentials and TLS (`bus.user`, `bus.password[_file]`, `bus.token[_file]`,
  // `bus.credentials_file`, `bus.tls`, `bus.tls_ca_file`, `bus.tls_cert_file`, `bus.tls_key_file`;
  // env PACSPULL_NATS_PASSWORD[_FILE] too). Secrets never appear in log lines.
  struct BusAuth {
    std::string user, password, token, credentials_file;
    bool tls = false;
    std::string tls_ca_file, tls_cert_file, tls_key_file;
  } bus_auth;
  // `bus.stream_replicas`: JetStream replicas of every stream the services create (1 for a
  // single nats-server; 3 for the k8s 3-node cluster, which then survives one node's loss).
  int bus_stream_replicas = 1;
  std::filesystem::path source;  // the file it came from (for rule reloads)
  // The site's time zone (`timezone:`, an IANA name; empty = the host's zone). StudyDate
  // and StudyTime are the hospital's wall clock: the finder's date window and every exam
  // time are read in `zone`, loaded and validated at start-up.
  std::string timezone;
  core::TimeZone zone;

  struct Local {
    core::AeTitle ae_title{"PACSPULL"};
    core::AeTitle receiver_ae_title{"PACSPULL"};
    std::filesystem::path storage_root{"/var/lib/pacspull/store"};
    Millis connect_timeout{10000};
    Millis acse_timeout{30000};
    Millis dimse_timeout{60000};
  } local;

  // Log lines: `text` (one human line each) or `json` (one JSON object per line: time,
  // level, service, message), and the lowest level written.
  struct Log {
    std::string format = "text";
    std::string level = "info";
  } log;

  GrpcSecurity grpc;

  std::vector<PacsNode> pacs;
  DicomNode ai_node;
  // `targets:` where computed series go: AI nodes (C-STORE, then an event) and bus-only
  // consumers (the event only), each with its own rules, de-identification, transfer syntax
  // and window. Without `targets:`, `ai_node:` is the one target, named "ai_node".
  struct Target {
    std::string name;
    std::string kind = "dicom";  // dicom | bus
    DicomNode node;              // kind dicom
    std::vector<std::string> families;  // rule families it takes (CT, DX); empty: every family
    bool deidentify = false;            // PS3.15 Basic Profile before the hand-off
    bool retain_uids = false, retain_dates = false, clean_descriptors = false;  // its options
    std::string deid_key;  // secret mixed into derived UIDs and pseudonyms
    // "" (as received), explicit-little-endian, implicit-little-endian,
    // deflated-explicit-little-endian: the copy sent is converted with DCMTK.
    std::string transfer_syntax;
    int window = 1;  // studies in flight to this target at once
  };
  std::vector<Target> targets;
  Millis reconcile_after{120000};  // re-publish work stuck this long in a hand-off state

  struct Finder {
    Millis poll_interval{30000};
    int crossday = -1;
    // One C-FIND per modality (ModalitiesInStudy). Not set: derived from the rule
    // families the rules enable (pipeline::rule_modalities); set: the site's own list,
    // and contradictions with the rules are start-up warnings (modalities_set).
    std::vector<std::string> modalities;
    bool modalities_set = false;
    Millis fixed_delay{0};
    // PACS without study-level counts: a study is stable when its series fingerprint (series
    // UIDs + per-series counts) is unchanged over `stable_polls` polls and `stable_min_age`.
    int stable_polls = 1;
    Millis stable_min_age{10000};
    // Series-level filtering before the move: auto (on where series queries are needed
    // anyway: no ModalitiesInStudy at study level), on (wherever the PACS answers Modality
    // at series level), off.
    std::string series_filter = "auto";
    // Where the PACS answers no image header at series nor image level (dcmqrscp): C-GET ONE
    // instance of a CT series (never stored) and judge the series on its header before the move
    // (pipeline::wants_sample; only series of >= 10 instances). auto: where the probe saw
    // C-GET work; on: unless it saw C-GET refused; off: never.
    std::string sample_headers = "auto";
    bool probe = true;  // probe each PACS's capabilities at start-up
    ServicePorts ports{50051, 9101, {}};
  } finder;

  struct Mover {
    int max_attempts = 5;
    Millis retry_backoff{30000};
    // Moves in flight per PACS: 1 (synchronous, the default: the backend computes steadily)
    // or up to N at once. `adaptive`: a PACS that refuses (A7xx, busy) or is unreachable
    // gets fewer (halved, at least 1), one more after each run of successes, up to N.
    int max_parallel_moves = 1;
    bool adaptive = true;
    ServicePorts ports{50052, 9102, {}};
  } mover;

  struct Receiver {
    uint16_t dicom_port = 11112;
    // Who may C-STORE to us (issue 11 part 1): every PACS (its ae_title, from its
    // `addresses` if given) plus `allowed_callers` (AE titles, or {ae_title, addresses});
    // anyone else is rejected at association time (caller_policy()). `accept_any_caller`
    // restores the old open door (logged loudly at start).
    std::vector<pipeline::AllowedCaller> allowed_callers;
    bool accept_any_caller = false;
    // Images of a study nobody asked for (no finder/manual pull made its ledger row) are
    // refused (C-STORE 0x0124 "not authorized") unless this is set.
    bool accept_unsolicited = false;
    DicomTls tls;  // the receiver's own TLS; verify_peer = a client certificate is required
    int max_associations = 16;
    // Store life cycle (services/README.md): files of a dispatched study leave the store
    // keep_after_dispatch after its dispatch is confirmed; studies that end not dispatched
    // (unsupported, failed) after `retention`. The ledger keeps the record.
    Millis keep_after_dispatch{0};
    Millis retention{24LL * 3600 * 1000};
    // Storage cap: above high (share of the filesystem used, or bytes used) every C-STORE
    // is answered 0xA700 and readiness is NOT_SERVING; at or below low it resumes.
    pipeline::Watermark storage_high_watermark{pipeline::Watermark::Kind::Percent, 90};
    pipeline::Watermark storage_low_watermark{pipeline::Watermark::Kind::Percent, 80};
    Millis stale_temp_age{3600 * 1000};  // temp files older than this are removed at start-up
    Millis drain_grace{30000};           // SIGTERM: associations in flight get this long to finish
    ServicePorts ports{50053, 9103, {}};
  } receiver;

  struct Filter {
    ServicePorts ports{50054, 9104, {}};
  } filter;

  struct Checker {
    Millis stable_age{30000};
    int max_repulls = 3;
    Millis scan_interval{5000};
    ServicePorts ports{50055, 9105, {}};
  } checker;

  struct Dispatcher {
    // `dispatcher.event_identifiers`: DispatchDone (bus subject pacspull.dispatch.done) carries
    // the study's AccessionNumber and PatientID for targets that are not de-identified. Off by
    // default (issue 11 part 5): the AI backend finds the study by its StudyInstanceUID; a site
    // whose backend needs them turns it on, knowing the bus then carries PHI.
    bool event_identifiers = false;
    ServicePorts ports{50056, 9106, {}};
  } dispatcher;

  // `ris:` a RIS answering DICOM Modality Worklist (issue 9 part 9); absent: no RIS. The
  // finder polls it on its own thread every poll_interval for the orders scheduled from
  // window_days before today to today (hospital local dates); each query is bounded by
  // `timeout` (connect, association and each answer), so a RIS that hangs or is down never
  // delays the PACS polls. Orders give the filter its RIS body parts and raise the move
  // priority of urgent (STAT/HIGH) exams.
  struct Ris {
    std::string name = "ris";
    DicomNode node;
    Millis poll_interval{60000};
    int window_days = 1;
    Millis timeout{10000};
    std::vector<std::string> modalities;  // MWL Modality keys to ask; empty: any modality
  };
  std::optional<Ris> ris;

  rules::RuleSet rules;
};

// The receiver's caller policy: the configured PACS and receiver.allowed_callers.
pipeline::CallerPolicy caller_policy(const SiteConfig& c);

using Environment = std::map<std::string, std::string>;

// The process environment's PACSPULL_* variables.
Environment process_environment();

// Loads and validates; throws ConfigError listing every problem ("site.yaml:12: ...").
SiteConfig load_site_config(const std::filesystem::path& file, const Environment& env = process_environment());
SiteConfig parse_site_config(const std::string& yaml_text, const std::string& origin, const Environment& env = {});

// A secret that is obviously a placeholder left from an example ("changeme", "CHANGE_ME",
// "placeholder", ...): services refuse to start with one (issue 11 part 4).
bool is_placeholder_secret(const std::string& secret);

// `url` (a libpq URI or key=value string) with user and password added (either may be empty).
std::string with_pg_credentials(const std::string& url, const std::string& user, const std::string& password);

// "500ms", "30s", "5m", "2h", "0" -> milliseconds; throws std::invalid_argument.
Millis parse_duration(const std::string& text);

}  // namespace pacspull::config
