#include "test_db.hpp"

#include <pqxx/pqxx>

#include <cstdlib>
#include <random>
#include <stdexcept>

namespace pacspull::testing {

std::string test_pg_admin_url() {
  const char* u = std::getenv("PACSPULL_TEST_PG_URL");
  if (!u || !*u)
    throw std::runtime_error("PACSPULL_TEST_PG_URL is not set: run the tests with tests/run.sh, which starts PostgreSQL");
  return u;
}

TestDatabase::TestDatabase() : admin_url_(test_pg_admin_url()) {
  std::random_device rd;
  name_ = "t_" + std::to_string(rd()) + std::to_string(rd() % 10000);
  pqxx::connection c(admin_url_);
  pqxx::nontransaction n(c);
  n.exec("CREATE DATABASE " + name_);
  auto slash = admin_url_.rfind('/');
  url_ = admin_url_.substr(0, slash + 1) + name_;
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction n(c);
    n.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
  }
}

}  // namespace pacspull::testing
