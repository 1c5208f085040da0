#include "pacspull/ledger/dispatcher_store.hpp"

#include <stdexcept>

#include "pacspull/ledger/ledger.hpp"
#include "state_sql.hpp"

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
// The last sent dispatch of each target.
constexpr const char* kLastSent = R"sql(
SELECT DISTINCT ON (target) target, array_to_string(series_uids, '\'), instances FROM dispatches
WHERE study_uid = $1 AND status = 'sent' ORDER BY target, generation DESC, id DESC)sql";
constexpr const char* kQueued = "SELECT target FROM dispatches WHERE study_uid = $1 AND generation = $2 ORDER BY target";
constexpr const char* kQueue = R"sql(
INSERT INTO dispatches (study_uid, generation, target, series_uids, reason, ai_node, priority, exam_time, version)
SELECT s.study_uid, $2, $3, string_to_array($4, '\'), $5, $3, s.priority, s.exam_time,
  1 + (SELECT count(*) FROM dispatches d WHERE d.study_uid = s.study_uid AND d.target = $3 AND d.status = 'sent')
FROM studies s WHERE s.study_uid = $1
ON CONFLICT (study_uid, generation, target) DO NOTHING
RETURNING id, version)sql";
// A newer generation replaces an older one's dispatch that nothing was sent of yet (and
// that no executor holds): sending both would hand the AI the same series twice.
constexpr const char* kSupersede = R"sql(
DELETE FROM dispatches d WHERE d.study_uid = $1 AND d.target = $2 AND d.generation < $3 AND d.status = 'pending'
  AND (d.claimed_until IS NULL OR d.claimed_until < now())
  AND NOT EXISTS (SELECT 1 FROM dispatch_instances x WHERE x.dispatch_id = d.id)
RETURNING d.id, d.generation)sql";
constexpr const char* kClaim = R"sql(
UPDATE dispatches SET claimed_by = $2, claimed_until = now() + make_interval(secs => $3), attempts = attempts + 1
WHERE id = (SELECT id FROM dispatches
            WHERE target = $1 AND status = 'pending' AND not_before <= now()
              AND (claimed_until IS NULL OR claimed_until < now())
            ORDER BY priority DESC, exam_time ASC NULLS LAST, id
            FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING id, study_uid, generation, priority, version, attempts, reason, array_to_string(series_uids, '\'),
  (SELECT accession_number FROM studies s WHERE s.study_uid = dispatches.study_uid),
  (SELECT patient_id FROM studies s WHERE s.study_uid = dispatches.study_uid))sql";
constexpr const char* kRenew = R"sql(
UPDATE dispatches SET claimed_until = now() + make_interval(secs => $3) WHERE id = $1 AND claimed_by = $2)sql";
constexpr const char* kReleaseStale = R"sql(
UPDATE dispatches SET claimed_by = NULL, claimed_until = NULL
WHERE status = 'pending' AND claimed_by LIKE $1 || '%' AND claimed_by <> $2)sql";
constexpr const char* kUnsent = R"sql(
SELECT i.sop_uid, i.path FROM dispatches d
JOIN instances i ON i.series_uid = ANY (d.series_uids)
WHERE d.id = $1 AND NOT EXISTS (SELECT 1 FROM dispatch_instances x WHERE x.dispatch_id = d.id AND x.sop_uid = i.sop_uid)
ORDER BY i.series_uid, i.sop_uid)sql";
constexpr const char* kMarkSent = R"sql(
INSERT INTO dispatch_instances (dispatch_id, sop_uid) VALUES ($1, $2) ON CONFLICT DO NOTHING)sql";
constexpr const char* kDefer = R"sql(
UPDATE dispatches SET last_error = $2, claimed_by = NULL, claimed_until = NULL,
  not_before = now() + make_interval(secs => $3)
WHERE id = $1)sql";
constexpr const char* kLockStudy = "SELECT 1 FROM studies WHERE study_uid = $1 FOR UPDATE";
constexpr const char* kFinish = R"sql(
UPDATE dispatches SET status = 'sent', sent_at = now(), claimed_by = NULL, claimed_until = NULL,
  instances = (SELECT count(*) FROM dispatch_instances x WHERE x.dispatch_id = $1)
WHERE id = $1 RETURNING instances, target, version)sql";
constexpr const char* kFiles = R"sql(
SELECT i.path FROM dispatch_instances x JOIN instances i ON i.sop_uid = x.sop_uid WHERE x.dispatch_id = $1
ORDER BY i.path)sql";
constexpr const char* kSettleWhenAllSent = R"sql(
UPDATE studies SET state = $3, dispatched_generation = $2, state_changed_at = now()
WHERE study_uid = $1 AND generation = $2 AND state = ANY($4::text[])
  AND NOT EXISTS (SELECT 1 FROM dispatches d WHERE d.study_uid = $1 AND d.generation = $2 AND d.status <> 'sent'))sql";
constexpr const char* kSettle = R"sql(
UPDATE studies SET state = $3, dispatched_generation = $2, state_changed_at = now()
WHERE study_uid = $1 AND generation = $2 AND state = ANY($4::text[]))sql";
constexpr const char* kDeidMap = R"sql(
INSERT INTO deid_map (target, kind, original, deidentified, study_uid) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (target, kind, original) DO NOTHING)sql";
constexpr const char* kOriginalOf = R"sql(
SELECT original FROM deid_map WHERE target = $1 AND deidentified = $2 LIMIT 1)sql";
constexpr const char* kList = R"sql(
SELECT id, study_uid, status, reason, array_to_string(series_uids, '\'), instances,
  extract(epoch FROM coalesce(sent_at, created_at))::bigint, target, version
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
  for (const auto& row : w.exec_params(kLastSent, study_uid))
    s.sent_before[row[0].c_str()] = SentBefore{split(row[1].c_str()), row[2].as<long>()};
  for (const auto& row : w.exec_params(kQueued, study_uid, s.generation)) s.queued_targets.emplace_back(row[0].c_str());
  return s;
}

int queue_dispatches(pqxx::work& w, const std::string& study_uid, int generation,
                     const std::vector<DispatchToQueue>& dispatches) {
  int fresh = 0;
  for (const auto& d : dispatches) {
    for (const auto& row : w.exec_params(kSupersede, study_uid, d.target, generation))
      record_event(w, study_uid, "", "dispatcher", "dispatch-superseded",
                   rules::Text::from_utf8("dispatch " + std::string(row[0].c_str()) + " of generation " +
                                          row[1].c_str() + " to " + d.target + " replaced by generation " +
                                          std::to_string(generation) + " before anything was sent"));
    pqxx::result r = w.exec_params(kQueue, study_uid, generation, d.target, join(d.series), d.reason);
    if (r.empty()) continue;  // queued before (redelivery)
    ++fresh;
    const int version = r[0][1].as<int>();
    record_event(w, study_uid, "", "dispatcher", "dispatch-queued",
                 rules::Text::from_utf8(d.reason + " -> " + d.target + " (dispatch " + r[0][0].c_str() + ", version " +
                                        std::to_string(version) + ")"));
  }
  return fresh;
}

std::optional<ClaimedDispatch> claim_next_dispatch(pqxx::work& w, const std::string& target, const std::string& holder,
                                                   std::chrono::seconds lease) {
  pqxx::result r = w.exec_params(kClaim, target, holder, static_cast<double>(lease.count()));
  if (r.empty()) return std::nullopt;
  ClaimedDispatch d;
  d.id = r[0][0].as<long long>();
  d.study_uid = r[0][1].c_str();
  d.generation = r[0][2].as<int>();
  d.priority = r[0][3].as<int>();
  d.version = r[0][4].as<int>();
  d.attempts = r[0][5].as<int>();
  d.reason = r[0][6].c_str();
  d.series_uids = split(r[0][7].c_str());
  d.accession_number = r[0][8].is_null() ? "" : r[0][8].c_str();
  d.patient_id = r[0][9].is_null() ? "" : r[0][9].c_str();
  d.target = target;
  if (d.attempts == 1)
    record_event(w, d.study_uid, "", "dispatcher", "dispatching",
                 rules::Text::from_utf8(d.reason + " -> " + target + " (dispatch " + std::to_string(d.id) + ", version " +
                                        std::to_string(d.version) + ")"));
  else
    record_event(w, d.study_uid, "", "dispatcher", "dispatch-resumed",
                 rules::Text::from_utf8("resuming dispatch " + std::to_string(d.id) + " to " + target + " (attempt " +
                                        std::to_string(d.attempts) + ")"));
  return d;
}

void renew_claim(pqxx::work& w, long long dispatch_id, const std::string& holder, std::chrono::seconds lease) {
  w.exec_params(kRenew, dispatch_id, holder, static_cast<double>(lease.count()));
}

int release_stale_claims(pqxx::work& w, const std::string& holder_prefix, const std::string& holder) {
  return static_cast<int>(w.exec_params(kReleaseStale, holder_prefix, holder).affected_rows());
}

std::vector<InstanceToSend> unsent_instances(pqxx::work& w, long long dispatch_id) {
  std::vector<InstanceToSend> out;
  for (const auto& row : w.exec_params(kUnsent, dispatch_id)) out.push_back({row[0].c_str(), row[1].c_str()});
  return out;
}

void mark_sent(pqxx::work& w, long long dispatch_id, const std::vector<std::string>& sop_uids) {
  for (const auto& s : sop_uids) w.exec_params(kMarkSent, dispatch_id, s);
}

void defer_dispatch(pqxx::work& w, long long dispatch_id, const std::string& study_uid, const rules::Text& error,
                    std::chrono::seconds delay) {
  w.exec_params(kDefer, dispatch_id, error.str(), static_cast<double>(delay.count()));
  record_event(w, study_uid, "", "dispatcher", "dispatch-failed",
               rules::Text::from_utf8(error.str() + " (dispatch " + std::to_string(dispatch_id) + ", again in " +
                                      std::to_string(delay.count()) + " s)"));
}

Finished finish_dispatch(pqxx::work& w, long long dispatch_id, const std::string& study_uid, int generation) {
  w.exec_params(kLockStudy, study_uid);
  pqxx::row r = w.exec_params1(kFinish, dispatch_id);
  const int n = r[0].as<int>();
  const std::string target = r[1].c_str();
  record_event(w, study_uid, "", "dispatcher", "dispatched",
               rules::Text::from_utf8("sent " + std::to_string(n) + " instances to " + target + " (dispatch " +
                                      std::to_string(dispatch_id) + ", version " + r[2].c_str() + ")"));
  Finished f;
  f.study_completed = w.exec_params(kSettleWhenAllSent, study_uid, generation,
                                    to_state(pipeline::Transition::Complete),
                                    from_states(pipeline::Transition::Complete))
                          .affected_rows() > 0;
  for (const auto& row : w.exec_params(kFiles, dispatch_id)) f.files.emplace_back(row[0].c_str());
  return f;
}

bool settle_without_dispatch(pqxx::work& w, const std::string& study_uid, int generation, pipeline::Transition how,
                             const std::string& why) {
  if (how != pipeline::Transition::SettleUnsupported && how != pipeline::Transition::SettleNothingNew)
    throw std::invalid_argument("settle_without_dispatch: " + std::string(pipeline::to_string(how)));
  if (w.exec_params(kSettle, study_uid, generation, to_state(how), from_states(how)).affected_rows() == 0) return false;
  record_event(w, study_uid, "", "dispatcher",
               how == pipeline::Transition::SettleUnsupported ? "unsupported" : "not-redispatched",
               rules::Text::from_utf8(why));
  return true;
}

void record_deid_map(pqxx::work& w, const std::string& target, const std::string& study_uid,
                     const std::map<std::string, std::string>& uids, const std::string& patient_id,
                     const std::string& pseudonym) {
  for (const auto& [orig, derived] : uids) w.exec_params(kDeidMap, target, "uid", orig, derived, study_uid);
  if (!pseudonym.empty()) w.exec_params(kDeidMap, target, "patient", patient_id, pseudonym, study_uid);
}

std::string original_of(pqxx::work& w, const std::string& target, const std::string& deidentified) {
  pqxx::result r = w.exec_params(kOriginalOf, target, deidentified);
  return r.empty() ? std::string() : std::string(r[0][0].c_str());
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
    d.target = row[7].c_str();
    d.version = row[8].as<int>();
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace pacspull::ledger
