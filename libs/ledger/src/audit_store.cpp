#include "pacspull/ledger/audit_store.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kInsert =
    "INSERT INTO audit_log (actor, action, object, detail) VALUES ($1, $2, $3, $4::jsonb)";

// $1 since (epoch seconds or NULL), $2 action ('' = any), $3 prefix match?, $4 limit.
constexpr const char* kSelect = R"sql(
SELECT id, (extract(epoch FROM at) * 1000000)::bigint, actor, action, object, detail::text
FROM audit_log
WHERE ($1::bigint IS NULL OR at >= to_timestamp($1::bigint))
  AND ($2 = '' OR (CASE WHEN $3 THEN starts_with(action, $2) ELSE action = $2 END))
ORDER BY at DESC, id DESC
LIMIT $4)sql";

}  // namespace

void record_audit(pqxx::work& w, const AuditEntry& e) {
  w.exec_params(kInsert, e.actor, e.action, e.object, e.detail_json.empty() ? std::string("{}") : e.detail_json);
}

std::vector<AuditRow> audit_log(pqxx::work& w, const AuditQuery& q) {
  const bool prefix = !q.action.empty() && q.action.back() == '.';
  std::vector<AuditRow> out;
  for (const auto& r : w.exec_params(kSelect, q.since_epoch, q.action, prefix, q.limit > 0 ? q.limit : 100)) {
    AuditRow a;
    a.id = r[0].as<int64_t>();
    a.at_us = r[1].as<int64_t>();
    a.actor = r[2].as<std::string>();
    a.action = r[3].as<std::string>();
    a.object = r[4].as<std::string>();
    a.detail_json = r[5].as<std::string>();
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace pacspull::ledger
