#pragma once
// The audit trail (migration 008): who did what to which object, when. Appended by the
// services (pulls, dispatches, configuration loads and reloads) and by runtime for every
// state-changing gRPC call (manual requests, refused ones too); read by `pullctl audit-log`.
// The detail is a JSON object the caller builds; it must not carry PHI beyond the study UID.
#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pacspull::ledger {

// Action names (dotted, grouped by their first word).
namespace audit {
inline constexpr const char* kPullQueued = "pull.queued";        // finder: a study queued to move
inline constexpr const char* kPullMoved = "pull.moved";          // mover: a move job finished
inline constexpr const char* kDispatchSent = "dispatch.sent";    // dispatcher: sent to a target
inline constexpr const char* kRequest = "request";               // a state-changing gRPC call
inline constexpr const char* kRequestDenied = "request.denied";  // ... refused
inline constexpr const char* kRulesReload = "config.rules_reload";
inline constexpr const char* kConfigLoaded = "config.loaded";    // a service started with a site file
}  // namespace audit

struct AuditEntry {
  std::string actor;
  std::string action;
  std::string object;
  std::string detail_json = "{}";  // a JSON object
};

struct AuditRow {
  int64_t id = 0;
  int64_t at_us = 0;  // microseconds since the epoch
  std::string actor, action, object, detail_json;
};

struct AuditQuery {
  std::optional<int64_t> since_epoch;  // rows at or after (seconds)
  std::string action;                  // exact, or a prefix ending in '.' ("pull." -> pull.*)
  int limit = 100;                     // newest first
};

// Appends one row in `w` (the caller's transaction: with the change it records, or alone).
void record_audit(pqxx::work& w, const AuditEntry& e);
std::vector<AuditRow> audit_log(pqxx::work& w, const AuditQuery& q);

}  // namespace pacspull::ledger
