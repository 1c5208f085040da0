// PostgreSQL roles per service, migrations by the owner only, sslmode honoured (issue 11
// part 4), against the real test PostgreSQL.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>
#include <random>

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
  // Rows: yes.
  CHECK(sqlstate_of(url, "SELECT count(*) FROM studies") == "");
  CHECK(sqlstate_of(url, "INSERT INTO events (study_uid, service, kind, detail) VALUES ('1.2.3', 'finder', 'test', "
                         "'role test')") == "");
  CHECK(sqlstate_of(url, "UPDATE events SET detail = 'x' WHERE study_uid = '1.2.3'") == "");
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

  // A table a later migration adds (another owner's, say) is covered once migrate runs again.
  owner.transact([](pqxx::work& w) { w.exec("CREATE TABLE later_table (x int)"); });
  owner.migrate();
  CHECK(sqlstate_of(url, "INSERT INTO later_table VALUES (1)") == "");
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
