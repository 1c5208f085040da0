#pragma once
// Ledger rows of PACS capabilities (migration 005): the finder's probe verdict per PACS,
// shown by `pullctl pacs probe` and read back by whoever needs it (the mover: C-GET,
// series-level C-MOVE).
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "pacspull/pipeline/capabilities.hpp"

namespace pacspull::ledger {

struct PacsCapabilityRow {
  std::string pacs;
  pipeline::PacsCapabilities capabilities;
  std::vector<std::string> pinned;  // fields the site pinned
  std::string plan;
  std::string probe_error;
  long long probed_at = 0;  // epoch seconds
};

// Upserts the row of `row.pacs` (which must be in pacs_nodes). c_get / series_move are
// kept when the new value is unknown, so the mover's findings survive a finder re-probe.
void save_pacs_capabilities(pqxx::work& w, const PacsCapabilityRow& row);
std::optional<PacsCapabilityRow> load_pacs_capabilities(pqxx::work& w, const std::string& pacs);

}  // namespace pacspull::ledger
