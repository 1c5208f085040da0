#include "pacspull/ledger/pacs_store.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kUpsert = R"sql(
INSERT INTO pacs_capabilities (pacs, study_modalities, study_counts, filters_modalities, series_modality,
  series_counts, series_body_part, series_description, image_level, result_cap, c_get, series_move,
  timezone_offset, pinned, notes, plan, probe_error, probed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, string_to_array($14, chr(31)), string_to_array($15, chr(31)), $16, $17,
  to_timestamp($18))
ON CONFLICT (pacs) DO UPDATE SET study_modalities = EXCLUDED.study_modalities, study_counts = EXCLUDED.study_counts,
  filters_modalities = EXCLUDED.filters_modalities, series_modality = EXCLUDED.series_modality,
  series_counts = EXCLUDED.series_counts, series_body_part = EXCLUDED.series_body_part,
  series_description = EXCLUDED.series_description, image_level = EXCLUDED.image_level,
  result_cap = EXCLUDED.result_cap, c_get = coalesce(EXCLUDED.c_get, pacs_capabilities.c_get),
  series_move = coalesce(EXCLUDED.series_move, pacs_capabilities.series_move),
  timezone_offset = EXCLUDED.timezone_offset, pinned = EXCLUDED.pinned, notes = EXCLUDED.notes,
  plan = EXCLUDED.plan, probe_error = EXCLUDED.probe_error, probed_at = EXCLUDED.probed_at)sql";

constexpr const char* kSelect = R"sql(
SELECT study_modalities, study_counts, filters_modalities, series_modality, series_counts, series_body_part,
  series_description, image_level, result_cap, c_get, series_move, timezone_offset,
  array_to_string(pinned, chr(31)), array_to_string(notes, chr(31)), plan, probe_error,
  extract(epoch FROM probed_at)::bigint, array_to_string(learned, chr(31))
FROM pacs_capabilities WHERE pacs = $1)sql";

// One learned column (`column` is one of ours, never input); the row is created (all else
// unknown) when the finder has not probed the PACS yet. WHERE EXISTS: a PACS not (yet) in
// pacs_nodes inserts nothing instead of failing the mover's transaction on the foreign key.
std::string learn_sql(const std::string& column) {
  return "INSERT INTO pacs_capabilities AS c (pacs, " + column + ", learned, probe_error)\n"
         "SELECT $1, $2, ARRAY['" + column + "'], 'not probed (row created by the mover)'\n"
         "WHERE EXISTS (SELECT 1 FROM pacs_nodes WHERE name = $1)\n"
         "ON CONFLICT (pacs) DO UPDATE SET " + column + " = EXCLUDED." + column + ",\n"
         "  learned = array_append(array_remove(c.learned, '" + column + "'), '" + column + "')\n"
         "WHERE NOT ('" + column + "' = ANY(c.pinned))\n"
         "RETURNING 1";
}

std::optional<bool> opt_bool(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<bool>();
}

// Text arrays travel as one string joined by the unit separator (libpqxx 6 has no
// array parameters); notes never contain it (control characters are not text we write).
constexpr char kSep = '\x1f';
std::vector<std::string> text_array(const pqxx::field& f) {
  std::vector<std::string> out;
  if (f.is_null()) return out;
  const std::string s = f.as<std::string>();
  if (s.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(kSep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}
std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += kSep;
    for (char ch : v[i]) out += ch == kSep ? ' ' : ch;
  }
  return out;
}

}  // namespace

void save_pacs_capabilities(pqxx::work& w, const PacsCapabilityRow& row) {
  const auto& c = row.capabilities;
  std::optional<int> cap;
  if (c.result_cap) cap = static_cast<int>(*c.result_cap);
  w.exec_params(kUpsert, row.pacs, c.study_modalities, c.study_counts, c.filters_modalities, c.series_modality,
                c.series_counts, c.series_body_part, c.series_description, c.image_level, cap, c.c_get,
                c.series_move, c.timezone_offset, joined(row.pinned), joined(c.notes), row.plan, row.probe_error, row.probed_at);
}

std::optional<PacsCapabilityRow> load_pacs_capabilities(pqxx::work& w, const std::string& pacs) {
  pqxx::result r = w.exec_params(kSelect, pacs);
  if (r.empty()) return std::nullopt;
  const auto& f = r[0];
  PacsCapabilityRow row;
  row.pacs = pacs;
  auto& c = row.capabilities;
  c.study_modalities = opt_bool(f[0]);
  c.study_counts = opt_bool(f[1]);
  c.filters_modalities = opt_bool(f[2]);
  c.series_modality = opt_bool(f[3]);
  c.series_counts = opt_bool(f[4]);
  c.series_body_part = opt_bool(f[5]);
  c.series_description = opt_bool(f[6]);
  c.image_level = opt_bool(f[7]);
  if (!f[8].is_null()) c.result_cap = f[8].as<long>();
  c.c_get = opt_bool(f[9]);
  c.series_move = opt_bool(f[10]);
  if (!f[11].is_null()) c.timezone_offset = f[11].as<std::string>();
  row.pinned = text_array(f[12]);
  c.notes = text_array(f[13]);
  row.plan = f[14].as<std::string>();
  row.probe_error = f[15].as<std::string>();
  row.probed_at = f[16].as<long long>();
  row.learned = text_array(f[17]);
  return row;
}

const char* column_of(LearnedCapability c) {
  return c == LearnedCapability::SeriesMove ? "series_move" : "c_get";
}

bool record_learned_capability(pqxx::work& w, const std::string& pacs, LearnedCapability which, bool value) {
  return !w.exec_params(learn_sql(which == LearnedCapability::SeriesMove ? "series_move" : "c_get"), pacs, value).empty();
}

}  // namespace pacspull::ledger
