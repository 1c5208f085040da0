#include "pacspull/ledger/mover_store.hpp"

#include "pacspull/ledger/ledger.hpp"
#include "state_sql.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kEnqueue = R"sql(
INSERT INTO move_jobs (study_uid, pacs, generation, series_uid, priority, exam_time, reason, not_before, series_uids)
SELECT $1, $2, $3, $4, greatest($5, s.priority), to_timestamp($6), $7, to_timestamp($8), string_to_array($9, chr(31))
FROM studies s WHERE s.study_uid = $1  -- an urgent RIS order that came after the request was published still counts
ON CONFLICT (study_uid, generation, series_uid) DO NOTHING RETURNING id)sql";

// A mover starting takes back its own running jobs (a crash of its previous run) and
// those whose lease ran out; another mover's live jobs stay with it.
constexpr const char* kResetRunning = R"sql(
UPDATE move_jobs SET status = 'pending'
WHERE status = 'running' AND (claimed_by = $1 OR lease_until IS NULL OR lease_until < to_timestamp($2)))sql";

// Older generations of a study are superseded by the newest one: moving twice is
// harmless, but it delays the queue.
constexpr const char* kSupersede = R"sql(
UPDATE move_jobs j SET status = 'superseded', finished_at = to_timestamp($1)
FROM studies s WHERE j.study_uid = s.study_uid AND j.status = 'pending' AND j.generation < s.generation)sql";

constexpr const char* kClaim = R"sql(
SELECT j.id, j.study_uid, j.pacs, j.generation, j.series_uid, j.priority, extract(epoch FROM j.exam_time)::bigint,
       j.reason, j.attempts, coalesce(p.ae_title, ''), coalesce(p.host, ''), coalesce(p.port, 0),
       array_to_string(j.series_uids, chr(31))
FROM move_jobs j LEFT JOIN pacs_nodes p ON p.name = j.pacs
WHERE ((j.status = 'pending' AND j.not_before <= to_timestamp($1))
       OR (j.status = 'running' AND j.lease_until < to_timestamp($1)))
  AND NOT (j.pacs = ANY (string_to_array($2, chr(31))))
ORDER BY j.priority DESC, j.exam_time ASC NULLS LAST, j.id
LIMIT 1 FOR UPDATE OF j SKIP LOCKED)sql";

constexpr const char* kMarkRunning = R"sql(
UPDATE move_jobs SET status = 'running', attempts = attempts + 1, started_at = to_timestamp($2),
  claimed_by = $3, lease_until = to_timestamp($2) + make_interval(secs => $4) WHERE id = $1
RETURNING attempts)sql";

constexpr const char* kStudyPulling = R"sql(
UPDATE studies SET state = $4, state_changed_at = to_timestamp($3)
WHERE study_uid = $1 AND generation = $2 AND state = ANY($5::text[]))sql";

constexpr const char* kFinish = R"sql(
UPDATE move_jobs SET status = $2, completed = $3, failed = $4, warning = $5, last_error = $6,
  not_before = to_timestamp($7), finished_at = to_timestamp($8), outcome = $9, outcome_kind = $10,
  retrieved_from = $11, method = $12
WHERE id = $1)sql";

constexpr const char* kSources = R"sql(
SELECT l.pacs, l.pacs_instances, s.pacs_instances FROM studies s
LEFT JOIN study_locations l ON l.study_uid = s.study_uid
WHERE s.study_uid = $1 ORDER BY l.last_seen_at DESC NULLS LAST, l.first_seen_at)sql";

constexpr const char* kLocation = R"sql(
INSERT INTO study_locations (study_uid, pacs, pacs_instances, first_seen_at, last_seen_at)
SELECT $1, $2, $3, to_timestamp($4), to_timestamp($4) WHERE EXISTS (SELECT 1 FROM pacs_nodes WHERE name = $2)
ON CONFLICT (study_uid, pacs) DO UPDATE SET last_seen_at = excluded.last_seen_at,
  pacs_instances = coalesce(excluded.pacs_instances, study_locations.pacs_instances))sql";

constexpr const char* kStudyFailed = R"sql(
UPDATE studies SET state = $4, state_changed_at = to_timestamp($3)
WHERE study_uid = $1 AND generation = $2 AND state = ANY($5::text[])
  AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.study_uid = $1))sql";

constexpr const char* kNextDue = R"sql(
SELECT extract(epoch FROM min(not_before))::bigint FROM move_jobs WHERE status = 'pending')sql";

constexpr const char* kList = R"sql(
SELECT id, study_uid, pacs, generation, series_uid, priority, extract(epoch FROM exam_time)::bigint, reason,
       status, attempts, completed, failed, last_error, extract(epoch FROM not_before)::bigint
FROM move_jobs WHERE ($1 = '' OR status = $1) ORDER BY id DESC LIMIT $2)sql";

constexpr const char* kRetry = R"sql(
UPDATE move_jobs SET status = 'pending', attempts = 0, not_before = to_timestamp($2), last_error = ''
WHERE id = $1 AND status IN ('failed', 'superseded') RETURNING study_uid)sql";

constexpr const char* kRetryStudy = R"sql(
UPDATE studies SET state = $3, state_changed_at = to_timestamp($2) WHERE study_uid = $1 AND state = ANY($4::text[]))sql";

long long epoch(core::Time t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
std::optional<core::Time> from_epoch(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return core::Time{} + std::chrono::seconds(f.as<long long>());
}

std::vector<std::string> split_uids(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find('\x1f', start);
    if (end == std::string::npos) end = joined.size();
    if (end > start) out.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

bool enqueue_move(pqxx::work& w, const MoveWork& m, core::Time now) {
  std::optional<long long> exam = m.exam_time ? std::optional<long long>(epoch(*m.exam_time)) : std::nullopt;
  std::string series;
  for (const auto& uid : m.series_uids) {
    if (uid.empty()) continue;
    if (!series.empty()) series += '\x1f';
    series += uid;
  }
  pqxx::result r = w.exec_params(kEnqueue, m.study_uid, m.pacs, m.generation, m.series_uid, m.priority, exam,
                                   rules::Text::from_utf8(m.reason).str(), epoch(now), series);
  if (r.empty()) return false;
  record_event(w, m.study_uid, m.series_uid, "mover", "move-queued",
               rules::Text::from_utf8("move queued from " + m.pacs + " (generation " + std::to_string(m.generation) +
                                      ", priority " + std::to_string(m.priority) + "): " + m.reason));
  return true;
}

int reset_running_jobs(pqxx::work& w, const std::string& mover_id, core::Time now) {
  return static_cast<int>(w.exec_params(kResetRunning, mover_id, epoch(now)).affected_rows());
}

std::optional<MoveJobRow> claim_next_job(pqxx::work& w, core::Time now, const std::vector<std::string>& full,
                                         const std::string& mover_id, std::chrono::seconds lease) {
  w.exec_params(kSupersede, epoch(now));
  std::string skip;
  for (const auto& p : full) {
    if (!skip.empty()) skip += '\x1f';
    skip += p;
  }
  pqxx::result r = w.exec_params(kClaim, epoch(now), skip);
  if (r.empty()) return std::nullopt;
  const auto& row = r[0];
  MoveJobRow j;
  j.id = row[0].as<long long>();
  j.work.study_uid = row[1].c_str();
  j.work.pacs = row[2].c_str();
  j.work.generation = row[3].as<int>();
  j.work.series_uid = row[4].c_str();
  j.work.priority = row[5].as<int>();
  j.work.exam_time = from_epoch(row[6]);
  j.work.reason = row[7].c_str();
  j.pacs = PacsNodeRow{j.work.pacs, row[9].c_str(), row[10].c_str(), row[11].as<int>()};
  j.work.series_uids = split_uids(row[12].c_str());
  j.attempts = w.exec_params1(kMarkRunning, j.id, epoch(now), mover_id, static_cast<long long>(lease.count()))[0].as<int>();
  j.status = "running";
  w.exec_params(kStudyPulling, j.work.study_uid, j.work.generation, epoch(now),
                to_state(pipeline::Transition::StartPull), from_states(pipeline::Transition::StartPull));
  return j;
}

void finish_job(pqxx::work& w, const MoveJobRow& job, const MoveAttempt& a, const pipeline::JobDecision& d,
                core::Time now) {
  const char* status = d.next == pipeline::JobNext::Done ? "done" : d.next == pipeline::JobNext::Retry ? "pending" : "failed";
  w.exec_params(kFinish, job.id, status, a.completed, a.failed, a.warning, a.error.str(), epoch(d.not_before),
                epoch(now), a.outcome, a.outcome_kind, a.retrieved_from.empty() ? job.work.pacs : a.retrieved_from,
                a.method);
  double secs = static_cast<double>(a.elapsed.count()) / 1000.0;
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", secs);
  const bool elsewhere = !a.retrieved_from.empty() && a.retrieved_from != job.work.pacs;
  std::string detail = std::string(a.method == "get" ? "get" : "move") + " took " + took + " s from PACS " +
                       (elsewhere ? a.retrieved_from + " (failover from " + job.work.pacs + ")"
                                  : job.work.pacs + " (" + job.pacs.host + ":" + std::to_string(job.pacs.port) + ")") +
                       ": " + std::to_string(a.completed) + " completed, " +
                       std::to_string(a.failed) + " failed; " + d.reason;
  record_event(w, job.work.study_uid, job.work.series_uid, "mover", a.success ? "moved" : "move-failed", rules::Text::from_utf8(detail));
  if (d.next == pipeline::JobNext::Failed)
    w.exec_params(kStudyFailed, job.work.study_uid, job.work.generation, epoch(now),
                  to_state(pipeline::Transition::MoveFailed), from_states(pipeline::Transition::MoveFailed));
}

StudySources study_sources(pqxx::work& w, const std::string& study_uid) {
  StudySources out;
  for (const auto& row : w.exec_params(kSources, study_uid)) {
    if (!row[2].is_null()) out.expected = row[2].as<long>();
    if (row[0].is_null()) continue;
    out.candidates.push_back({row[0].c_str(), row[1].is_null() ? std::nullopt : std::optional<long>(row[1].as<long>())});
  }
  return out;
}

std::vector<PacsNodeRow> pacs_nodes(pqxx::work& w) {
  std::vector<PacsNodeRow> out;
  for (const auto& row : w.exec("SELECT name, ae_title, host, port FROM pacs_nodes ORDER BY name"))
    out.push_back({row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].as<int>()});
  return out;
}

std::set<std::string> held_instances(pqxx::work& w, const std::string& study_uid) {
  std::set<std::string> out;
  for (const auto& row : w.exec_params("SELECT sop_uid FROM instances WHERE study_uid = $1", study_uid))
    out.insert(row[0].c_str());
  return out;
}

void record_location(pqxx::work& w, const std::string& study_uid, const std::string& pacs, std::optional<long> instances,
                     core::Time now) {
  w.exec_params(kLocation, study_uid, pacs, instances, epoch(now));
}

std::optional<core::Time> next_due(pqxx::work& w) { return from_epoch(w.exec1(kNextDue)[0]); }

std::vector<MoveJobRow> list_jobs(pqxx::work& w, const std::string& status, int limit) {
  std::vector<MoveJobRow> out;
  for (const auto& row : w.exec_params(kList, status, limit > 0 ? limit : 100)) {
    MoveJobRow j;
    j.id = row[0].as<long long>();
    j.work = MoveWork{row[1].c_str(), row[2].c_str(), row[7].c_str(), row[4].c_str(), row[3].as<int>(),
                      row[5].as<int>(), from_epoch(row[6]), {}};
    j.status = row[8].c_str();
    j.attempts = row[9].as<int>();
    j.completed = row[10].as<int>();
    j.failed = row[11].as<int>();
    j.last_error = row[12].c_str();
    j.not_before = from_epoch(row[13]);
    out.push_back(std::move(j));
  }
  return out;
}

bool retry_job(pqxx::work& w, long long id, core::Time now) {
  pqxx::result r = w.exec_params(kRetry, id, epoch(now));
  if (r.empty()) return false;
  w.exec_params(kRetryStudy, r[0][0].c_str(), epoch(now), to_state(pipeline::Transition::OperatorRetry),
                from_states(pipeline::Transition::OperatorRetry));
  record_event(w, r[0][0].c_str(), "", "mover", "retry", rules::Text::from_utf8("operator re-queued move job " + std::to_string(id)));
  return true;
}

}  // namespace pacspull::ledger
