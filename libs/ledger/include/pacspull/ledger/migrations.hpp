#pragma once
#include <string>
#include <vector>

namespace pacspull::ledger {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Numbered migrations compiled from libs/ledger/migrations/*.sql, in order.
const std::vector<Migration>& migrations();

}  // namespace pacspull::ledger
