#include "pacspull/ledger/dispatcher_store.hpp"

#include "pacspull/ledger/ledger.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kStudy = R"sql(
SELECT accession_number, patient_id, state, priority, generation, filtered_generation, dispatched_generation
FROM studies WHERE study_uid = $1)sql";
constexpr const char* kSeries = R"sql(
SELECT series_uid, modality, coalesce(family, ''), coalesce(kernel, ''), description, coalesce(verdict_reason, ''),
  verdict = 'pass', slice_thickness, (SELECT count(*) FROM instances i WHERE i.series_uid = s.series_uid),
  coalesce(series_number, 0)
FROM series s WHERE study_uid = $1 AND verdict IS NOT NULL ORDER BY series_number NULLS LAST, series_uid)sql";
constexpr const char* kLastSent = R"sql(
SELECT array_to_string(series_uids, '\'), instances FROM dispatches WHERE study_uid = $1 AND status = 'sent'
ORDER BY generation DESC LIMIT 1)sql";
constexpr const char* kBegin = R"sql(
INSERT INTO dispatches (study_uid, generation, series_uids, reason, ai_node, attempts)
VALUES ($1, $2, string_to_array($3, '\'), $4, $5, 1)
ON CONFLICT (study_uid, generation) DO UPDATE SET attempts = dispatches.attempts + 1
RETURNING id, (xmax = 0))sql";
constexpr const char* kUnsent = R"sql(
SELECT i.sop_uid, i.path FROM dispatches d
JOIN instances i ON i.series_uid = ANY (d.series_uids)
WHERE d.id = $1 AND NOT EXISTS (SELECT 1 FROM dispatch_instances x WHERE x.dispatch_id = d.id AND x.sop_uid = i.sop_uid)
ORDER BY i.series_uid, i.sop_uid)sql";
constexpr const char* kMarkSent = R"sql(
INSERT INTO dispatch_instances (dispatch_id, sop_uid) VALUES ($1, $2) ON CONFLICT DO NOTHING)sql";
constexpr const char* kFailure = "UPDATE dispatches SET last_error = $2 WHERE id = $1";
constexpr const char* kFinish = R"sql(
UPDATE dispatches SET status = 'sent', sent_at = now(),
  instances = (SELECT count(*) FROM dispatch_instances x WHERE x.dispatch_id = $1)
WHERE id = $1 RETURNING instances)sql";
constexpr const char* kFiles = R"sql(
SELECT i.path FROM dispatch_instances x JOIN instances i ON i.sop_uid = x.sop_uid WHERE x.dispatch_id = $1
ORDER BY i.path)sql";
constexpr const char* kSettle = R"sql(
UPDATE studies SET state = $3, dispatched_generation = $2, state_changed_at = now()
WHERE study_uid = $1 AND generation = $2)sql";
constexpr const char* kList = R"sql(
SELECT id, study_uid, status, reason, array_to_string(series_uids, '\'), instances,
  extract(epoch FROM coalesce(sent_at, created_at))::bigint
FROM dispatches WHERE ($1 = '' OR study_uid = $1) ORDER BY id DESC LIMIT $2)sql";

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (!s.empty()) {
    size_t p = s.find('\\', start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}
std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "\\") + s;
  return out;
}

}  // namespace

std::optional<StudyToDispatch> study_to_dispatch(pqxx::work& w, const std::string& study_uid) {
  pqxx::result r = w.exec_params(kStudy, study_uid);
  if (r.empty()) return std::nullopt;
  StudyToDispatch s;
  s.study_uid = study_uid;
  s.accession_number = r[0][0].c_str();
  s.patient_id = r[0][1].c_str();
  s.state = r[0][2].c_str();
  s.priority = r[0][3].as<int>();
  s.generation = r[0][4].as<int>();
  s.filtered_generation = r[0][5].as<int>();
  s.dispatched_generation = r[0][6].as<int>();
  for (const auto& row : w.exec_params(kSeries, study_uid)) {
    SeriesVerdict v;
    v.series_uid = row[0].c_str();
    v.modality = row[1].c_str();
    v.family = row[2].c_str();
    v.kernel = row[3].c_str();
    v.description = row[4].c_str();
    v.verdict_reason = row[5].c_str();
    v.pass = row[6].as<bool>();
    if (!row[7].is_null()) v.slice_thickness = row[7].as<double>();
    v.instance_count = row[8].as<long>();
    v.series_number = row[9].as<long>();
    s.series.push_back(std::move(v));
  }
  pqxx::result last = w.exec_params(kLastSent, study_uid);
  if (!last.empty() && !last[0][0].is_null()) {
    s.previously_sent = split(last[0][0].c_str());
    s.previously_sent_instances = last[0][1].as<long>();
  }
  return s;
}

long long begin_dispatch(pqxx::work& w, const std::string& study_uid, int generation,
                         const std::vector<std::string>& series_uids, const std::string& reason,
                         const std::string& ai_node) {
  pqxx::row r = w.exec_params1(kBegin, study_uid, generation, join(series_uids), reason, ai_node);
  long long id = r[0].as<long long>();
  if (r[1].as<bool>())
    record_event(w, study_uid, "", "dispatcher", "dispatching", rules::Text::from_utf8(reason + " -> " + ai_node));
  else
    record_event(w, study_uid, "", "dispatcher", "dispatch-resumed", rules::Text::from_utf8("resuming dispatch " + std::to_string(id)));
  return id;
}

std::vector<InstanceToSend> unsent_instances(pqxx::work& w, long long dispatch_id) {
  std::vector<InstanceToSend> out;
  for (const auto& row : w.exec_params(kUnsent, dispatch_id)) out.push_back({row[0].c_str(), row[1].c_str()});
  return out;
}

void mark_sent(pqxx::work& w, long long dispatch_id, const std::vector<std::string>& sop_uids) {
  for (const auto& s : sop_uids) w.exec_params(kMarkSent, dispatch_id, s);
}

void record_dispatch_failure(pqxx::work& w, long long dispatch_id, const std::string& study_uid,
                             const rules::Text& error) {
  w.exec_params(kFailure, dispatch_id, error.str());
  record_event(w, study_uid, "", "dispatcher", "dispatch-failed", error);
}

std::vector<std::string> finish_dispatch(pqxx::work& w, long long dispatch_id, const std::string& study_uid,
                                         int generation) {
  int n = w.exec_params1(kFinish, dispatch_id)[0].as<int>();
  w.exec_params(kSettle, study_uid, generation, "completed");
  record_event(w, study_uid, "", "dispatcher", "dispatched",
               rules::Text::from_utf8("sent " + std::to_string(n) + " instances to the AI node (dispatch " +
                                      std::to_string(dispatch_id) + ")"));
  std::vector<std::string> files;
  for (const auto& row : w.exec_params(kFiles, dispatch_id)) files.emplace_back(row[0].c_str());
  return files;
}

void settle_without_dispatch(pqxx::work& w, const std::string& study_uid, int generation, const std::string& state,
                             const std::string& why) {
  w.exec_params(kSettle, study_uid, generation, state);
  record_event(w, study_uid, "", "dispatcher", state == "unsupported" ? "unsupported" : "not-redispatched", rules::Text::from_utf8(why));
}

std::vector<DispatchRow> list_dispatches(pqxx::work& w, const std::string& study_uid, int limit) {
  std::vector<DispatchRow> out;
  for (const auto& row : w.exec_params(kList, study_uid, limit > 0 ? limit : 100)) {
    DispatchRow d;
    d.id = row[0].as<long long>();
    d.study_uid = row[1].c_str();
    d.status = row[2].c_str();
    d.reason = row[3].c_str();
    d.series_uids = split(row[4].c_str());
    d.instances = row[5].as<int>();
    d.at = core::Time{} + std::chrono::seconds(row[6].as<long long>());
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace pacspull::ledger
