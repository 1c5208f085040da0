#pragma once
// The transactional outbox: events written in the transaction of the state change that
// produces them, relayed to the bus afterwards (services/common/outbox_relay).
#include <pqxx/pqxx>

#include <string>
#include <vector>

#include "pacspull/core/time.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::ledger {

struct OutboxEvent {
  long long id = 0;
  std::string subject, msg_id, payload;
  int attempts = 0;
};

// Adds an event inside the caller's transaction. Idempotent by msg_id: a state change
// replayed (a redelivered message) does not add a second event. Returns true when new.
bool enqueue_event(pqxx::work& w, const std::string& service, const std::string& subject,
                   const std::string& msg_id, const std::string& payload);
// Unpublished events of `service` due at `now`, oldest first.
std::vector<OutboxEvent> due_events(pqxx::work& w, const std::string& service, core::Time now, int limit);
void mark_published(pqxx::work& w, long long id, core::Time now);
// Records a failed attempt; the next one is due at `next_attempt`.
void mark_publish_failed(pqxx::work& w, long long id, const rules::Text& error, core::Time next_attempt);
// Unpublished events of `service` (for readiness and metrics).
long pending_events(pqxx::work& w, const std::string& service);

}  // namespace pacspull::ledger
