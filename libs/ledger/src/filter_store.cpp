#include "pacspull/ledger/filter_store.hpp"

#include "pacspull/ledger/ledger.hpp"
#include "state_sql.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kStudy = R"sql(
SELECT state, generation, filtered_generation FROM studies WHERE study_uid = $1)sql";
constexpr const char* kSeries = R"sql(
SELECT series_uid, first_instance_path, modality,
  (SELECT count(*) FROM instances i WHERE i.series_uid = s.series_uid), verdict_generation
FROM series s WHERE study_uid = $1 ORDER BY series_number NULLS LAST, series_uid)sql";
constexpr const char* kVerdict = R"sql(
UPDATE series SET verdict = $3, verdict_rule = $4, verdict_reason = $5, looked_at = nullif($6, '')::jsonb,
  rule_version = $7, family = $8, slice_thickness = $9, kernel = $10, verdict_generation = $2, evaluated_at = now()
WHERE series_uid = $1)sql";
constexpr const char* kMarkFiltered = R"sql(
UPDATE studies SET filtered_generation = $2, state_changed_at = now()
WHERE study_uid = $1 AND generation = $2 AND state = $3 AND filtered_generation < $2)sql";
constexpr const char* kStuckFiltered = R"sql(
SELECT study_uid, generation, coalesce(pacs_instances, 0),
  (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid), short
FROM studies s
WHERE state = $2 AND filtered_generation = generation AND dispatched_generation < generation
  AND state_changed_at < now() - make_interval(secs => $1)
LIMIT 500)sql";
constexpr const char* kSeriesPath = "SELECT first_instance_path FROM series WHERE series_uid = $1";

constexpr const char* kReplay = R"sql(
SELECT study_uid, series_uid, modality, first_instance_path, verdict, coalesce(verdict_reason, ''),
  (SELECT count(*) FROM instances i WHERE i.series_uid = s.series_uid)
FROM series s WHERE verdict IS NOT NULL AND created_at > now() - make_interval(days => $1)
ORDER BY created_at)sql";

}  // namespace

std::vector<SeriesForReplay> series_for_replay(pqxx::work& w, int days) {
  std::vector<SeriesForReplay> out;
  for (const auto& r : w.exec_params(kReplay, days))
    out.push_back({r[0].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].c_str(), r[5].c_str(), r[6].as<long>()});
  return out;
}

std::optional<StudyToFilter> study_to_filter(pqxx::work& w, const std::string& study_uid) {
  pqxx::result r = w.exec_params(kStudy, study_uid);
  if (r.empty()) return std::nullopt;
  StudyToFilter s{study_uid, r[0][0].c_str(), r[0][1].as<int>(), r[0][2].as<int>(), {}};
  for (const auto& row : w.exec_params(kSeries, study_uid)) {
    SeriesToFilter x{row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].as<long>(), std::nullopt};
    if (!row[4].is_null()) x.verdict_generation = row[4].as<int>();
    s.series.push_back(std::move(x));
  }
  return s;
}

void record_verdict(pqxx::work& w, const std::string& study_uid, const std::string& series_uid, int generation,
                    const VerdictRow& v) {
  w.exec_params(kVerdict, series_uid, generation, v.pass ? "pass" : "fail", v.rule, v.reason.str(),
                v.looked_at_json.str(), v.rule_version, v.family, v.slice_thickness, v.kernel.str());
  record_event(w, study_uid, series_uid, "filter", v.pass ? "series-pass" : "series-filtered", v.reason,
               v.looked_at_json);
}

bool mark_filtered(pqxx::work& w, const std::string& study_uid, int generation, const std::string& summary) {
  bool done = w.exec_params(kMarkFiltered, study_uid, generation, state_name(pipeline::StudyState::Received))
                  .affected_rows() == 1;
  if (done) record_event(w, study_uid, "", "filter", "filtered", rules::Text::from_utf8(summary));
  return done;
}

std::vector<ReceivedWork> stuck_filtered(pqxx::work& w, std::chrono::seconds older_than) {
  std::vector<ReceivedWork> out;
  for (const auto& row : w.exec_params(kStuckFiltered, static_cast<double>(older_than.count()),
                                       state_name(pipeline::StudyState::Received)))
    out.push_back(ReceivedWork{row[0].c_str(), row[1].as<int>(), row[2].as<long>(), row[3].as<long>(), row[4].as<bool>()});
  return out;
}

std::optional<std::string> series_first_path(pqxx::work& w, const std::string& series_uid) {
  pqxx::result r = w.exec_params(kSeriesPath, series_uid);
  if (r.empty()) return std::nullopt;
  return std::string(r[0][0].c_str());
}

}  // namespace pacspull::ledger
