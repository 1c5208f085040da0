// PostgreSQL roles per service, migrations by the owner only, sslmode honoured (issue 11
// part 4), against the real test PostgreSQL.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "pacspull/config/site_config.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/migrations.hpp"
#include "test_db.hpp"

using namespace pacspull;

namespace {

// A login role of its own that is a member of `service_role` (roles are per cluster: a name
// per test run), dropped at the end.
class LoginRole {
 public:
  explicit LoginRole(const std::string& service_role) : admin_(testing::test_pg_admin_url()) {
    std::random_device rd;
    name_ = "t_login_" + std::to_string(rd() % 1000000000);
    pqxx::connection c(admin_);
    pqxx::nontransaction n(c);
    n.exec("CREATE ROLE " + name_ + " LOGIN IN ROLE " + service_role);
  }
  ~LoginRole() {
    try {
      pqxx::connection c(admin_);
      pqxx::nontransaction n(c);
      n.exec("DROP ROLE IF EXISTS " + name_);
    } catch (...) {
    }
  }
  // `db_url` connected as this role.
  std::string url(const std::string& db_url) const { return config::with_pg_credentials(db_url, name_, ""); }
  const std::string& name() const { return name_; }

 private:
  std::string admin_, name_;
};

// Running `sql` as `url`: "" when it succeeded, "42501" when refused for lack of privilege
// (libpqxx 6 does not always carry the SQLSTATE: the server's message tells too), else the
// error.
std::string sqlstate_of(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::work w(c);
    w.exec(sql);
    w.commit();
    return "";
  } catch (const pqxx::sql_error& e) {
    const std::string what = e.what();
    if (e.sqlstate() == "42501" || what.find("permission denied") != std::string::npos ||
        what.find("must be owner") != std::string::npos)
      return "42501";
    return "error " + e.sqlstate() + ": " + what;
  }
}

}  // namespace

TEST_CASE("A service role reads and writes rows but cannot create, alter, drop or migrate", "[integration][ledger][roles]") {
  testing::TestDatabase db;
  ledger::Ledger owner(db.url());
  const int version = owner.migrate();
  CHECK(version >= 9);
  {
    pqxx::connection c(db.url());
    pqxx::read_transaction t(c);
    for (const char* r : {"pacspull_finder", "pacspull_mover", "pacspull_receiver", "pacspull_filter",
                          "pacspull_checker", "pacspull_dispatcher", "pacspull_operator"})
      CHECK(t.exec1(std::string("SELECT count(*) FROM pg_roles WHERE rolname = '") + r + "' AND NOT rolsuper")[0]
                .as<int>() == 1);
  }
  LoginRole finder("pacspull_finder");
  const std::string url = finder.url(db.url());
  {
    pqxx::connection c(url);
    pqxx::read_transaction t(c);
    CHECK(t.exec1("SELECT current_user")[0].as<std::string>() == finder.name());
  }
  // Rows: those its code touches (migration 12's role_grants).
  CHECK(sqlstate_of(url, "SELECT count(*) FROM studies") == "");
  CHECK(sqlstate_of(url, "INSERT INTO events (study_uid, service, kind, detail) VALUES ('1.2.3', 'finder', 'test', "
                         "'role test')") == "");
  CHECK(sqlstate_of(url, "UPDATE events SET detail = 'x' WHERE study_uid = '1.2.3'") == "42501");  // history stays
  // Schema: no (42501 insufficient_privilege).
  CHECK(sqlstate_of(url, "CREATE TABLE intruder (x int)") == "42501");
  CHECK(sqlstate_of(url, "DROP TABLE studies") == "42501");
  CHECK(sqlstate_of(url, "ALTER TABLE studies ADD COLUMN intruder int") == "42501");
  CHECK(sqlstate_of(url, "TRUNCATE studies") == "42501");
  CHECK(sqlstate_of(url, "INSERT INTO schema_migrations (version, name) VALUES (999, 'fake')") == "42501");
  CHECK(sqlstate_of(url, "SELECT pacspull_grant_service_roles()") == "42501");
  if (owner.transact([](pqxx::work& w) { return w.exec1("SELECT to_regclass('audit_log') IS NOT NULL")[0].as<bool>(); })) {
    CHECK(sqlstate_of(url, "DELETE FROM audit_log") == "42501");  // the audit trail is append-only
    CHECK(sqlstate_of(url, "UPDATE audit_log SET actor = 'x'") == "42501");
  }

  // The ledger adapter as that role: may not migrate; with the schema current it starts.
  ledger::Ledger as_service(url);
  CHECK_FALSE(as_service.may_migrate());
  CHECK(as_service.missing_migrations().empty());
  CHECK(as_service.prepare_schema(ledger::Ledger::SchemaMode::Auto) == version);
  CHECK(as_service.prepare_schema(ledger::Ledger::SchemaMode::Check) == version);
  CHECK_THROWS_AS(as_service.migrate(), ledger::LedgerError);
  CHECK(owner.may_migrate());

  // A table a later migration adds is the owner's alone until role_grants names it; then
  // the next migration run grants it (with its serial sequence).
  owner.transact([](pqxx::work& w) { w.exec("CREATE TABLE later_table (id bigserial, x int)"); });
  owner.migrate();
  CHECK(sqlstate_of(url, "INSERT INTO later_table (x) VALUES (1)") == "42501");
  owner.transact([](pqxx::work& w) {
    w.exec("INSERT INTO role_grants VALUES ('pacspull_finder', 'later_table', '{SELECT,INSERT}')");
  });
  owner.migrate();
  CHECK(sqlstate_of(url, "INSERT INTO later_table (x) VALUES (1)") == "");
  CHECK(sqlstate_of(url, "DELETE FROM later_table") == "42501");
  // role_grants itself refuses an audit trail that could be rewritten.
  CHECK_THROWS(owner.transact([](pqxx::work& w) {
    w.exec("INSERT INTO role_grants VALUES ('pacspull_finder', 'audit_log', '{INSERT,DELETE}')");
  }));
}

namespace {

struct Refusal {
  const char* role;
  const char* sql;
};

}  // namespace

TEST_CASE("Each service role holds only what its code does: the forbidden writes are refused", "[integration][ledger][roles]") {
  testing::TestDatabase db;
  ledger::Ledger owner(db.url());
  owner.migrate();
  // Rows for the statements to find (a refusal must be for privilege, not for no row).
  owner.transact([](pqxx::work& w) {
    w.exec("INSERT INTO pacs_nodes (name, ae_title, host, port) VALUES ('p', 'P', 'h', 104)");
    w.exec("INSERT INTO studies (study_uid, state) VALUES ('1.2.9', 'completed')");
    w.exec("INSERT INTO series (series_uid, study_uid, modality, first_instance_path) VALUES ('1.2.9.1', '1.2.9', 'CT', '/x')");
    w.exec("INSERT INTO instances (sop_uid, series_uid, study_uid, path, bytes) VALUES ('1.2.9.1.1', '1.2.9.1', '1.2.9', '/x', 1)");
    w.exec("INSERT INTO audit_log (actor, action) VALUES ('owner', 'test')");
  });
  const std::vector<Refusal> refused{
      // The finder may not delete instances nor anything of the pipeline's history.
      {"pacspull_finder", "DELETE FROM instances"},
      {"pacspull_finder", "DELETE FROM studies"},
      {"pacspull_finder", "DELETE FROM events"},
      {"pacspull_finder", "SELECT count(*) FROM deid_map"},
      {"pacspull_finder", "INSERT INTO dispatches (study_uid, generation) VALUES ('1.2.9', 1)"},
      // The dispatcher may not write PACS capabilities or nodes, nor move jobs.
      {"pacspull_dispatcher", "INSERT INTO pacs_capabilities (pacs) VALUES ('p')"},
      {"pacspull_dispatcher", "UPDATE pacs_nodes SET host = 'evil'"},
      {"pacspull_dispatcher", "UPDATE move_jobs SET status = 'done'"},
      {"pacspull_dispatcher", "DELETE FROM instances"},
      // The receiver records instances; it does not queue or dispatch.
      {"pacspull_receiver", "DELETE FROM instances"},
      {"pacspull_receiver", "INSERT INTO move_jobs (study_uid, pacs, generation) VALUES ('1.2.9', 'p', 1)"},
      {"pacspull_receiver", "UPDATE dispatches SET status = 'sent'"},
      {"pacspull_receiver", "SELECT count(*) FROM deid_map"},
      // The filter writes verdicts, not instances or PACS data.
      {"pacspull_filter", "UPDATE instances SET path = '/elsewhere'"},
      {"pacspull_filter", "UPDATE pacs_nodes SET port = 1"},
      // The checker reads moves, it does not make them.
      {"pacspull_checker", "INSERT INTO move_jobs (study_uid, pacs, generation) VALUES ('1.2.9', 'p', 1)"},
      {"pacspull_checker", "UPDATE series SET verdict = 'pass'"},
      // The mover: no dispatches, no PACS list changes.
      {"pacspull_mover", "UPDATE dispatches SET status = 'sent'"},
      {"pacspull_mover", "UPDATE pacs_nodes SET host = 'evil'"},
      // pullctl reads; it does not change the pipeline's rows, nor read PHI maps or payloads.
      {"pacspull_operator", "UPDATE studies SET state = 'completed'"},
      {"pacspull_operator", "DELETE FROM instances"},
      {"pacspull_operator", "SELECT count(*) FROM deid_map"},
      {"pacspull_operator", "SELECT count(*) FROM outbox"},
      {"pacspull_operator", "INSERT INTO audit_log (actor, action) VALUES ('me', 'forged')"},
  };
  const std::vector<const char*> roles{"pacspull_finder",  "pacspull_mover",      "pacspull_receiver",
                                       "pacspull_filter",  "pacspull_checker",    "pacspull_dispatcher",
                                       "pacspull_operator"};
  std::map<std::string, std::unique_ptr<LoginRole>> logins;
  for (const char* r : roles) logins[r] = std::make_unique<LoginRole>(r);
  for (const auto& x : refused) {
    INFO(x.role << ": " << x.sql);
    CHECK(sqlstate_of(logins[x.role]->url(db.url()), x.sql) == "42501");
  }
  for (const char* r : roles) {
    INFO(r);
    const std::string url = logins[r]->url(db.url());
    // Nobody but the owner alters, truncates or drops; the audit trail is append-only for all.
    CHECK(sqlstate_of(url, "ALTER TABLE studies ADD COLUMN intruder int") == "42501");
    CHECK(sqlstate_of(url, "ALTER TABLE audit_log DISABLE TRIGGER ALL") == "42501");
    CHECK(sqlstate_of(url, "TRUNCATE instances") == "42501");
    CHECK(sqlstate_of(url, "DROP TABLE events") == "42501");
    CHECK(sqlstate_of(url, "CREATE TABLE intruder (x int)") == "42501");
    CHECK(sqlstate_of(url, "UPDATE audit_log SET actor = 'x'") == "42501");
    CHECK(sqlstate_of(url, "DELETE FROM audit_log") == "42501");
    CHECK(sqlstate_of(url, "INSERT INTO role_grants VALUES ('pacspull_finder', 'deid_map', '{SELECT}')") == "42501");
    CHECK(sqlstate_of(url, "INSERT INTO schema_migrations (version, name) VALUES (999, 'fake')") == "42501");
    CHECK(sqlstate_of(url, "SELECT version FROM schema_migrations LIMIT 1") == "");
  }
  // And what they must do still works (a few of each, as the stores write them).
  const std::vector<Refusal> allowed{
      {"pacspull_finder", "INSERT INTO audit_log (actor, action) VALUES ('finder', 'pull.queued')"},
      {"pacspull_finder", "UPDATE studies SET priority = 2 WHERE study_uid = '1.2.9'"},
      {"pacspull_mover", "INSERT INTO move_jobs (study_uid, pacs, generation) VALUES ('1.2.9', 'p', 1)"},
      {"pacspull_receiver", "UPDATE instances SET deleted_at = now() WHERE study_uid = '1.2.9'"},
      {"pacspull_receiver", "DELETE FROM receiver_status WHERE instance_id = 'r1'"},
      {"pacspull_filter", "UPDATE series SET verdict = 'pass' WHERE series_uid = '1.2.9.1'"},
      {"pacspull_checker", "SELECT 1 FROM studies WHERE study_uid = '1.2.9' FOR UPDATE"},
      {"pacspull_dispatcher", "INSERT INTO dispatches (study_uid, generation, series_uids) VALUES ('1.2.9', 1, '{}')"},
      {"pacspull_dispatcher", "INSERT INTO outbox (service, subject, msg_id, payload, created_at, next_attempt) "
                              "VALUES ('dispatcher', 's', 'm1', decode('00', 'hex'), now(), now())"},
      {"pacspull_operator", "SELECT count(*) FROM audit_log"},
      {"pacspull_operator", "DELETE FROM parked_messages WHERE id = 0"},
  };
  for (const auto& x : allowed) {
    INFO(x.role << ": " << x.sql);
    CHECK(sqlstate_of(logins[x.role]->url(db.url()), x.sql) == "");
  }
}

TEST_CASE("A service role facing an unmigrated ledger refuses to start, naming the one-shot step", "[integration][ledger][roles]") {
  testing::TestDatabase migrated;  // creates the roles (cluster-wide) if no other test did yet
  ledger::Ledger(migrated.url()).migrate();
  testing::TestDatabase fresh;
  LoginRole finder("pacspull_finder");
  ledger::Ledger as_service(finder.url(fresh.url()));
  CHECK_FALSE(as_service.may_migrate());
  CHECK(as_service.missing_migrations().size() == ledger::migrations().size());
  try {
    as_service.prepare_schema(ledger::Ledger::SchemaMode::Auto);
    FAIL("a service role started on an unmigrated ledger");
  } catch (const ledger::LedgerError& e) {
    CHECK_FALSE(e.retryable());
    CHECK_THAT(e.what(), Catch::Contains("--migrate"));
    CHECK_THAT(e.what(), Catch::Contains("lacks migration"));
  }
  // ledger.migrate: off never migrates, even as the owner.
  ledger::Ledger owner(fresh.url());
  CHECK_THROWS_AS(owner.prepare_schema(ledger::Ledger::SchemaMode::Check), ledger::LedgerError);
  CHECK(owner.missing_migrations().size() == ledger::migrations().size());
  CHECK(owner.prepare_schema(ledger::Ledger::SchemaMode::Auto) >= 9);  // auto as the owner migrates
  CHECK(owner.missing_migrations().empty());
}

TEST_CASE("sslmode in the ledger URL is honoured: require against a server without TLS fails clearly", "[integration][ledger][tls]") {
  testing::TestDatabase db;
  const std::string url = db.url() + (db.url().find('?') == std::string::npos ? "?" : "&") + "sslmode=require";
  try {
    ledger::Ledger l(url);
    FAIL("connected with sslmode=require to a server without TLS");
  } catch (const ledger::LedgerError& e) {
    CHECK_THAT(e.what(), Catch::Contains("ledger unreachable"));
    CHECK_THAT(e.what(), Catch::Contains("SSL"));
  }
  // prefer (libpq's default) still connects.
  const std::string prefer = db.url() + (db.url().find('?') == std::string::npos ? "?" : "&") + "sslmode=prefer";
  CHECK_NOTHROW(ledger::Ledger(prefer).healthy());
}
