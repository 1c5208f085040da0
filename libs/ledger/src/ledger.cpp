#include "pacspull/ledger/ledger.hpp"

#include <spdlog/spdlog.h>

#include <set>
#include <thread>

#include "pacspull/ledger/migrations.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kCreateMigrations = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()))sql";
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(727274)";
constexpr const char* kAppliedVersions = "SELECT version FROM schema_migrations";
constexpr const char* kMaxVersion = "SELECT coalesce(max(version), 0) FROM schema_migrations";
constexpr const char* kRecordMigration = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";
// Migration 9's grants, refreshed after every migration run (tables added later included).
constexpr const char* kGrantServiceRoles = R"sql(
SELECT pacspull_grant_service_roles() WHERE to_regprocedure('pacspull_grant_service_roles()') IS NOT NULL)sql";
constexpr const char* kMayMigrate = R"sql(
SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
    OR CASE WHEN to_regclass('schema_migrations') IS NULL
            THEN has_schema_privilege(current_schema(), 'CREATE')
            ELSE pg_has_role((SELECT tableowner FROM pg_tables WHERE tablename = 'schema_migrations'
                                AND schemaname = current_schema()), 'USAGE') END)sql";

constexpr const char* kInsertEvent = R"sql(
INSERT INTO events (study_uid, series_uid, service, kind, detail, attrs)
VALUES (nullif($1, ''), nullif($2, ''), $3, $4, $5, nullif($6, '')::jsonb))sql";

constexpr const char* kInsertRawText = R"sql(
INSERT INTO text_raw (study_uid, series_uid, attribute, raw, specific_character_set, decoded, source)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (study_uid, series_uid, attribute) DO NOTHING)sql";

bool is_retryable(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) return true;
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e)) return true;  // serialization, deadlock
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) return true;
  if (auto* le = dynamic_cast<const LedgerError*>(&e)) return le->retryable();
  if (auto* se = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = se->sqlstate();
    // 08: connection exception, 57P01..03: admin shutdown / cannot connect now, 40: rollback
    return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state.rfind("40", 0) == 0;
  }
  return false;
}

}  // namespace

Ledger::Ledger(std::string url, Options options) : url_(std::move(url)), options_(options) {
  std::lock_guard lock(mu_);
  connection_locked();
}

pqxx::connection& Ledger::connection_locked() {
  if (conn_ && conn_->is_open()) return *conn_;
  conn_.reset();
  try {
    conn_ = std::make_unique<pqxx::connection>(url_);
  } catch (const std::exception& e) {
    throw LedgerError(std::string("ledger unreachable: ") + e.what(), true);
  }
  return *conn_;
}

void Ledger::handle_failure(const std::exception& e, int attempt) {
  bool retryable = is_retryable(e);
  if (!retryable) throw LedgerError(std::string("ledger: ") + e.what(), false);
  conn_.reset();
  if (attempt >= options_.attempts)
    throw LedgerError("ledger: giving up after " + std::to_string(attempt) + " attempts: " + e.what(), true);
  spdlog::warn("ledger: retryable failure (attempt {}/{}): {}", attempt, options_.attempts, e.what());
  std::this_thread::sleep_for(options_.backoff * attempt);
}

int Ledger::migrate() {
  return transact([](pqxx::work& w) {
    w.exec(kMigrationLock);
    w.exec(kCreateMigrations);
    // Applied by number, not by "above the highest": a migration merged after a
    // higher-numbered one still runs.
    std::set<int> applied;
    for (const auto& row : w.exec(kAppliedVersions)) applied.insert(row[0].as<int>());
    for (const auto& m : migrations()) {
      if (applied.count(m.version)) continue;
      spdlog::info("ledger: applying migration {} ({})", m.version, m.name);
      w.exec(m.sql);
      w.exec_params(kRecordMigration, m.version, m.name);
    }
    w.exec(kGrantServiceRoles);
    return w.exec1(kMaxVersion)[0].as<int>();
  });
}

bool Ledger::may_migrate() {
  return transact([](pqxx::work& w) { return w.exec1(kMayMigrate)[0].as<bool>(false); });
}

std::vector<int> Ledger::missing_migrations() {
  return transact([](pqxx::work& w) {
    std::set<int> applied;
    // to_regclass first: a query naming a missing table fails at parse time.
    if (w.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].as<bool>())
      for (const auto& row : w.exec(kAppliedVersions)) applied.insert(row[0].as<int>());
    std::vector<int> missing;
    for (const auto& m : migrations())
      if (!applied.count(m.version)) missing.push_back(m.version);
    return missing;
  });
}

int Ledger::prepare_schema(SchemaMode mode) {
  if (mode == SchemaMode::Auto && may_migrate()) return migrate();
  std::vector<int> missing = missing_migrations();
  if (!missing.empty()) {
    std::string list;
    for (int v : missing) list += (list.empty() ? "" : ", ") + std::to_string(v);
    throw LedgerError("the ledger schema lacks migration(s) " + list +
                          (mode == SchemaMode::Auto ? " and this role may not apply them" : " (ledger.migrate: off)") +
                          ": run `pacspull-<service> --migrate` once with the owner role",
                      false);
  }
  return transact([](pqxx::work& w) { return w.exec1(kMaxVersion)[0].as<int>(); });
}

bool Ledger::healthy() {
  try {
    return transact([](pqxx::work& w) { return w.exec1("SELECT 1")[0].as<int>() == 1; });
  } catch (const std::exception&) {
    return false;
  }
}

void record_event(pqxx::work& w, const std::string& study_uid, const std::string& series_uid,
                  const std::string& service, const std::string& kind, const rules::Text& detail,
                  const rules::Text& attrs_json) {
  w.exec_params(kInsertEvent, study_uid, series_uid, service, kind, detail.str(), attrs_json.str());
}

void record_raw_texts(pqxx::work& w, const std::string& study_uid, const std::string& series_uid,
                      const std::vector<rules::RawText>& raws, const std::string& source) {
  for (const auto& r : raws)
    w.exec_params(kInsertRawText, study_uid, series_uid, r.attribute, pqxx::binarystring(r.raw.data(), r.raw.size()),
                  pqxx::binarystring(r.specific_character_set.data(), r.specific_character_set.size()),
                  r.text.str(), source);
}

void park_message(pqxx::work& w, const std::string& service, const std::string& subject, const std::string& payload,
                  const rules::Text& reason) {
  w.exec_params("INSERT INTO parked_messages (service, subject, payload, reason) VALUES ($1, $2, $3, $4)", service,
                rules::Text::from_utf8(subject).str(), pqxx::binarystring(payload.data(), payload.size()),
                reason.str());
}

}  // namespace pacspull::ledger
