#include "pacspull/ledger/checker_store.hpp"

#include "pacspull/ledger/ledger.hpp"
#include "state_sql.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kPulling = R"sql(
SELECT s.study_uid, s.generation, s.pacs_instances, s.repulls,
  (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid),
  extract(epoch FROM greatest(s.last_instance_at, s.state_changed_at,
    (SELECT max(finished_at) FROM move_jobs j WHERE j.study_uid = s.study_uid)))::bigint,
  EXISTS (SELECT 1 FROM move_jobs j WHERE j.study_uid = s.study_uid AND j.status IN ('pending', 'running'))
FROM studies s WHERE s.state = ANY($1::text[]) ORDER BY s.priority DESC, s.state_changed_at LIMIT 1000)sql";

constexpr const char* kReceived = R"sql(
UPDATE studies SET state = $5, short = $3, state_changed_at = to_timestamp($4)
WHERE study_uid = $1 AND generation = $2 AND state = ANY($6::text[])
RETURNING pacs_instances, (SELECT count(*) FROM instances i WHERE i.study_uid = $1))sql";

constexpr const char* kRepull = R"sql(
UPDATE studies s SET state = $4, generation = generation + 1, repulls = repulls + 1,
  state_changed_at = to_timestamp($3)
WHERE study_uid = $1 AND generation = $2 AND state = ANY($5::text[])
RETURNING generation, priority, extract(epoch FROM exam_time)::bigint,
  coalesce((SELECT pacs FROM move_jobs j WHERE j.study_uid = s.study_uid ORDER BY id DESC LIMIT 1),
           (SELECT pacs FROM study_locations l WHERE l.study_uid = s.study_uid ORDER BY first_seen_at LIMIT 1), ''))sql";

constexpr const char* kStuckReceived = R"sql(
SELECT study_uid, generation, coalesce(pacs_instances, 0),
  (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid), short
FROM studies s
WHERE state = $3 AND filtered_generation < generation
  AND state_changed_at < to_timestamp($2) - make_interval(secs => $1)
LIMIT 500)sql";

long long epoch(core::Time t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::vector<PullingStudy> pulling_studies(pqxx::work& w, core::Time now) {
  std::vector<PullingStudy> out;
  for (const auto& row : w.exec_params(kPulling, from_states(pipeline::Transition::CheckerReceived))) {
    PullingStudy p;
    p.study_uid = row[0].c_str();
    p.generation = row[1].as<int>();
    if (!row[2].is_null()) p.input.pacs_instances = row[2].as<long>();
    p.input.repulls = row[3].as<int>();
    p.input.received_instances = row[4].as<long>();
    p.input.last_activity = core::Time{} + std::chrono::seconds(row[5].as<long long>());
    p.input.move_in_flight = row[6].as<bool>();
    p.input.now = now;
    out.push_back(std::move(p));
  }
  return out;
}

std::optional<ReceivedWork> apply_received(pqxx::work& w, const PullingStudy& s, bool short_, const std::string& why) {
  pqxx::result r = w.exec_params(kReceived, s.study_uid, s.generation, short_, epoch(s.input.now),
                                   to_state(pipeline::Transition::CheckerReceived),
                                   from_states(pipeline::Transition::CheckerReceived));
  if (r.empty()) return std::nullopt;
  record_event(w, s.study_uid, "", "checker", short_ ? "received-short" : "received", rules::Text::from_utf8(why));
  ReceivedWork out{s.study_uid, s.generation, r[0][0].is_null() ? 0 : r[0][0].as<long>(), r[0][1].as<long>(), short_};
  return out;
}

std::optional<MoveWork> apply_repull(pqxx::work& w, const PullingStudy& s, const std::string& why) {
  pqxx::result r = w.exec_params(kRepull, s.study_uid, s.generation, epoch(s.input.now),
                                   to_state(pipeline::Transition::CheckerRepull),
                                   from_states(pipeline::Transition::CheckerRepull));
  if (r.empty()) return std::nullopt;
  MoveWork m;
  m.study_uid = s.study_uid;
  m.generation = r[0][0].as<int>();
  m.priority = r[0][1].as<int>();
  if (!r[0][2].is_null()) m.exam_time = core::Time{} + std::chrono::seconds(r[0][2].as<long long>());
  m.pacs = r[0][3].c_str();
  m.reason = why;
  record_event(w, s.study_uid, "", "checker", "repull", rules::Text::from_utf8(why));
  return m;
}

std::vector<ReceivedWork> stuck_received(pqxx::work& w, std::chrono::seconds older_than, core::Time now) {
  std::vector<ReceivedWork> out;
  for (const auto& row : w.exec_params(kStuckReceived, static_cast<double>(older_than.count()), epoch(now),
                                             state_name(pipeline::StudyState::Received)))
    out.push_back(ReceivedWork{row[0].c_str(), row[1].as<int>(), row[2].as<long>(), row[3].as<long>(), row[4].as<bool>()});
  return out;
}

}  // namespace pacspull::ledger
