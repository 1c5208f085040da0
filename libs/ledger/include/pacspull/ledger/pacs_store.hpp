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
  // Fields the mover learned (migration 15), e.g. "series_move". Read only: the finder's save
  // leaves the column alone; record_learned_capability writes it.
  std::vector<std::string> learned;
};

// Upserts the row of `row.pacs` (which must be in pacs_nodes). c_get / series_move are
// kept when the new value is unknown, so the mover's findings survive a finder re-probe.
void save_pacs_capabilities(pqxx::work& w, const PacsCapabilityRow& row);
std::optional<PacsCapabilityRow> load_pacs_capabilities(pqxx::work& w, const std::string& pacs);

// A capability the mover learns from a PACS's answers (issue 9 part 6).
enum class LearnedCapability { SeriesMove, CGet };
const char* column_of(LearnedCapability c);  // "series_move", "c_get"

// Records what the mover learned: sets that one column of the PACS's row (inserting the row,
// every other capability unknown, when the finder has not probed it yet) and adds it to
// `learned`. A column the site pinned (listed in `pinned` by the finder) is left as pinned.
// Returns whether the row now holds `value` from the mover (false: pinned, or the PACS is
// not in pacs_nodes). Needs SELECT, INSERT, UPDATE on pacs_capabilities (migration 15).
bool record_learned_capability(pqxx::work& w, const std::string& pacs, LearnedCapability which, bool value);

}  // namespace pacspull::ledger
