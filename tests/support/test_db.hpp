#pragma once
// A throw-away database on the test PostgreSQL (PACSPULL_TEST_PG_URL, set by
// tests/run.sh). Created on construction, dropped on destruction.
#include <string>

namespace pacspull::testing {

class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string admin_url_, name_, url_;
};

// The admin URL, or throws with a message saying to run tests through tests/run.sh.
std::string test_pg_admin_url();

}  // namespace pacspull::testing
