#include "pacspull/ledger/outbox.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kEnqueue = R"sql(
INSERT INTO outbox (service, subject, msg_id, payload, created_at, next_attempt)
VALUES ($1, $2, $3, $4, now(), now())
ON CONFLICT (msg_id) DO NOTHING RETURNING 1)sql";

constexpr const char* kDue = R"sql(
SELECT id, subject, msg_id, payload, attempts FROM outbox
WHERE service = $1 AND published_at IS NULL AND next_attempt <= to_timestamp($2)
ORDER BY id LIMIT $3)sql";

constexpr const char* kPublished = "UPDATE outbox SET published_at = to_timestamp($2) WHERE id = $1";

constexpr const char* kFailed = R"sql(
UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt = to_timestamp($3) WHERE id = $1)sql";

constexpr const char* kPending = "SELECT count(*) FROM outbox WHERE service = $1 AND published_at IS NULL";

double epoch(core::Time t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

bool enqueue_event(pqxx::work& w, const std::string& service, const std::string& subject,
                   const std::string& msg_id, const std::string& payload) {
  return !w.exec_params(kEnqueue, service, subject, rules::Text::from_utf8(msg_id).str(),
                        pqxx::binarystring(payload.data(), payload.size()))
              .empty();
}

std::vector<OutboxEvent> due_events(pqxx::work& w, const std::string& service, core::Time now, int limit) {
  std::vector<OutboxEvent> out;
  for (const auto& r : w.exec_params(kDue, service, epoch(now), limit)) {
    pqxx::binarystring payload(r[3]);
    out.push_back({r[0].as<long long>(), r[1].c_str(), r[2].c_str(), payload.str(), r[4].as<int>()});
  }
  return out;
}

void mark_published(pqxx::work& w, long long id, core::Time now) { w.exec_params(kPublished, id, epoch(now)); }

void mark_publish_failed(pqxx::work& w, long long id, const rules::Text& error, core::Time next_attempt) {
  w.exec_params(kFailed, id, error.str(), epoch(next_attempt));
}

long pending_events(pqxx::work& w, const std::string& service) {
  return w.exec_params1(kPending, service)[0].as<long>();
}

}  // namespace pacspull::ledger
