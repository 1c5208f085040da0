#include "pacspull/ledger/finder_store.hpp"

#include "pacspull/ledger/ledger.hpp"
#include "state_sql.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kUpsertPacs = R"sql(
INSERT INTO pacs_nodes (name, ae_title, host, port) VALUES ($1, $2, $3, $4)
ON CONFLICT (name) DO UPDATE SET ae_title = EXCLUDED.ae_title, host = EXCLUDED.host, port = EXCLUDED.port,
  updated_at = now())sql";

constexpr const char* kLockStudy = R"sql(
SELECT state, pacs_instances, extract(epoch FROM first_seen_at)::bigint,
       (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid), generation, priority,
       series_fingerprint, fingerprint_polls, extract(epoch FROM fingerprint_since)::bigint
FROM studies s WHERE study_uid = $1 FOR UPDATE)sql";

constexpr const char* kFingerprint = R"sql(
UPDATE studies SET series_fingerprint = $2, fingerprint_polls = $3, fingerprint_since = to_timestamp($4)
WHERE study_uid = $1)sql";

constexpr const char* kMoveSeries = R"sql(
UPDATE studies SET move_series = CASE WHEN $2 = '' THEN NULL ELSE string_to_array($2, '\') END
WHERE study_uid = $1)sql";

constexpr const char* kInsertStudy = R"sql(
INSERT INTO studies (study_uid, accession_number, patient_id, study_date, exam_time, modalities, description,
                     pacs_instances, pull_at_once, first_seen_at, state_changed_at, state)
VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7, $8, $9, to_timestamp($10), to_timestamp($10), $11))sql";

constexpr const char* kUpdateCount = "UPDATE studies SET pacs_instances = $2 WHERE study_uid = $1";

constexpr const char* kQueueStudy = R"sql(
UPDATE studies SET state = $4, generation = generation + 1, stable_at = to_timestamp($2),
  state_changed_at = to_timestamp($2), pacs_instances = $3
WHERE study_uid = $1 AND state = ANY($5::text[]) RETURNING generation, priority, extract(epoch FROM exam_time)::bigint)sql";

// The finder's settling: like kQueueStudy (a new generation, the count it was judged on),
// and the generation counts as dealt with (dispatched_generation) as the dispatcher's
// settle-unsupported does.
constexpr const char* kSettleUnsupported = R"sql(
UPDATE studies SET state = $4, generation = generation + 1, stable_at = to_timestamp($2),
  state_changed_at = to_timestamp($2), pacs_instances = $3, dispatched_generation = generation + 1
WHERE study_uid = $1 AND state = ANY($5::text[]) RETURNING generation)sql";

constexpr const char* kRegrowStudy = R"sql(
UPDATE studies SET state = $4, pacs_instances = $2, first_seen_at = to_timestamp($3),
  state_changed_at = to_timestamp($3), repulls = 0, short = false
WHERE study_uid = $1 AND state = ANY($5::text[]))sql";

constexpr const char* kUpsertLocation = R"sql(
INSERT INTO study_locations (study_uid, pacs, pacs_instances) VALUES ($1, $2, $3)
ON CONFLICT (study_uid, pacs) DO UPDATE SET pacs_instances = EXCLUDED.pacs_instances, last_seen_at = to_timestamp($4))sql";

constexpr const char* kManualMatch = R"sql(
SELECT study_uid FROM studies WHERE study_uid = $1 OR accession_number = $1 OR patient_id = $1
ORDER BY first_seen_at DESC LIMIT 50)sql";

constexpr const char* kManualQueue = R"sql(
UPDATE studies s SET state = $4, generation = generation + 1, priority = greatest(priority, $2),
  state_changed_at = to_timestamp($3), repulls = 0
WHERE study_uid = $1 AND state = ANY($5::text[])
RETURNING generation, priority, extract(epoch FROM exam_time)::bigint,
  (SELECT pacs FROM study_locations l WHERE l.study_uid = s.study_uid ORDER BY last_seen_at DESC LIMIT 1))sql";

constexpr const char* kStuckQueued = R"sql(
SELECT s.study_uid, s.generation, s.priority, extract(epoch FROM s.exam_time)::bigint,
  (SELECT pacs FROM study_locations l WHERE l.study_uid = s.study_uid ORDER BY first_seen_at LIMIT 1)
FROM studies s
WHERE s.state = $3 AND s.state_changed_at < to_timestamp($2) - make_interval(secs => $1)
  AND NOT EXISTS (SELECT 1 FROM move_jobs j WHERE j.study_uid = s.study_uid AND j.generation = s.generation)
LIMIT 500)sql";

long long epoch(core::Time t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
std::optional<core::Time> from_epoch(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return core::Time{} + std::chrono::seconds(f.as<long long>());
}
std::optional<long> opt_count(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<long>();
}

}  // namespace

void sync_pacs_nodes(pqxx::work& w, const std::vector<PacsNodeRow>& nodes) {
  for (const auto& n : nodes) w.exec_params(kUpsertPacs, n.name, n.ae_title, n.host, n.port);
}

Observed observe_study(pqxx::work& w, const FoundStudy& s, const pipeline::StabilityPolicy& policy, core::Time now,
                       const pipeline::FingerprintPolicy& fingerprint_policy) {
  std::optional<pipeline::KnownStudy> known;
  std::optional<pipeline::FingerprintState> known_fp;
  pqxx::result r = w.exec_params(kLockStudy, s.study_uid);
  if (!r.empty()) {
    pipeline::KnownStudy k;
    k.state = pipeline::parse_state(r[0][0].c_str()).value_or(pipeline::StudyState::Found);
    k.pacs_instances = opt_count(r[0][1]);
    k.first_seen = core::Time{} + std::chrono::seconds(r[0][2].as<long long>());
    k.received_instances = r[0][3].as<long>();
    known = k;
    if (!r[0][6].is_null())
      known_fp = pipeline::FingerprintState{r[0][6].c_str(), r[0][7].as<int>(),
                                            core::Time{} + std::chrono::seconds(r[0][8].as<long long>())};
  }
  pipeline::Observation seen{s.pacs_instances, s.pull_at_once, now};
  Observed out{pipeline::on_found(known, seen, policy), !known, std::nullopt};
  using pipeline::FindAction;
  // PACS without study-level counts: the series fingerprint decides stability of a study
  // still being watched (found); settled studies regrow by count as before.
  std::optional<pipeline::FingerprintStep> fp_step;
  if (s.fingerprint && (!known || known->state == pipeline::StudyState::Found)) {
    fp_step = pipeline::observe_fingerprint(known_fp, *s.fingerprint, fingerprint_policy, now, s.series_summary);
    if (s.pull_at_once) out.decision = {FindAction::Queue, "DX family: pull at once (" + s.series_summary + ")"};
    else if (!known) out.decision = {FindAction::Record, "new study, " + fp_step->reason};
    else if (fp_step->stable) out.decision = {FindAction::Queue, "study stable: " + fp_step->reason};
    else out.decision = {FindAction::Wait, fp_step->reason};
  } else if (s.fingerprint && out.decision.action == FindAction::Regrow) {
    fp_step = pipeline::observe_fingerprint(std::nullopt, *s.fingerprint, fingerprint_policy, now, s.series_summary);
  }

  std::optional<long long> exam = s.exam_time ? std::optional<long long>(epoch(*s.exam_time)) : std::nullopt;
  if (!known) {
    w.exec_params(kInsertStudy, s.study_uid, s.accession_number.str(), s.patient_id.str(), s.study_date.str(), exam,
                  s.modalities.str(), s.description.str(), s.pacs_instances, s.pull_at_once, epoch(now),
                  to_state(pipeline::Transition::Discover));
    record_raw_texts(w, s.study_uid, "", s.raws, "finder");
    std::string where;
    for (const auto& [pacs, n] : s.locations) where += (where.empty() ? "" : ", ") + pacs;
    record_event(w, s.study_uid, "", "finder", "found",
                 rules::Text::from_utf8("new study " + s.modalities.str() + " accession " + s.accession_number.str() +
                                        " found on " + where + ": " + out.decision.reason));
  }
  for (const auto& [pacs, n] : s.locations) w.exec_params(kUpsertLocation, s.study_uid, pacs, n, epoch(now));
  if (fp_step)
    w.exec_params(kFingerprint, s.study_uid, fp_step->next.fingerprint, fp_step->next.unchanged_polls,
                  epoch(fp_step->next.since));

  switch (out.decision.action) {
    case FindAction::Record:
    case FindAction::Nothing:
      if (known && known->state != pipeline::StudyState::Found && !pipeline::is_settled(known->state))
        w.exec_params(kUpdateCount, s.study_uid, s.pacs_instances);
      break;
    case FindAction::Wait:
      w.exec_params(kUpdateCount, s.study_uid, s.pacs_instances);
      if (known) record_event(w, s.study_uid, "", "finder", "waiting", rules::Text::from_utf8(out.decision.reason));
      break;
    case FindAction::Regrow:
      w.exec_params(kRegrowStudy, s.study_uid, s.pacs_instances, epoch(now), to_state(pipeline::Transition::Regrow),
                    from_states(pipeline::Transition::Regrow));
      record_event(w, s.study_uid, "", "finder", "regrow", rules::Text::from_utf8(out.decision.reason));
      break;
    case FindAction::Queue: {
      if (s.none_pass && !s.pull_at_once && known) {
        // Nothing to move: every series fails the filter's series rules on full information.
        pqxx::row q = w.exec_params1(kSettleUnsupported, s.study_uid, epoch(now), s.pacs_instances,
                                     to_state(pipeline::Transition::FinderUnsupported),
                                     from_states(pipeline::Transition::FinderUnsupported));
        const int generation = q[0].as<int>();
        for (const auto& [series_uid, why] : s.series_dropped)
          record_event(w, s.study_uid, series_uid, "finder", "series-filtered",
                       rules::Text::from_utf8(why + " (judged at series level before the move)"));
        record_event(w, s.study_uid, "", "finder", "unsupported",
                     rules::Text::from_utf8(out.decision.reason + "; " + s.series_reason + " (generation " +
                                            std::to_string(generation) + ")"));
        out.unsupported = true;
        break;
      }
      // The row is locked and on_found queues only a found study: no row back is a broken
      // invariant, and the transaction rolls back.
      pqxx::row q = w.exec_params1(kQueueStudy, s.study_uid, epoch(now), s.pacs_instances,
                                   to_state(pipeline::Transition::Queue), from_states(pipeline::Transition::Queue));
      MoveWork m;
      m.study_uid = s.study_uid;
      m.pacs = s.locations.empty() ? std::string() : s.locations.front().first;
      m.generation = q[0].as<int>();
      m.priority = q[1].as<int>();
      m.exam_time = from_epoch(q[2]);
      m.reason = out.decision.reason;
      m.series_uids = s.move_series;
      std::string joined;
      for (const auto& uid : s.move_series) joined += (joined.empty() ? "" : "\\") + uid;
      w.exec_params(kMoveSeries, s.study_uid, joined);
      std::string series_note;
      if (!s.series_reason.empty())
        series_note = "; " + s.series_reason + (s.move_series.empty() ? "" : ": series-level move of " +
                                                                                 std::to_string(s.move_series.size()) +
                                                                                 " series");
      record_event(w, s.study_uid, "", "finder", "stable",
                   rules::Text::from_utf8(out.decision.reason + series_note + "; move requested from " + m.pacs +
                                          " (generation " + std::to_string(m.generation) + ")"));
      out.move = m;
      break;
    }
  }
  return out;
}

std::vector<MoveWork> request_manual_pull(pqxx::work& w, const rules::Text& key, int priority, core::Time now) {
  std::vector<MoveWork> out;
  for (const auto& row : w.exec_params(kManualMatch, key.str())) {
    std::string uid = row[0].c_str();
    pqxx::row q = w.exec_params1(kManualQueue, uid, priority, epoch(now), to_state(pipeline::Transition::ManualPull),
                                 from_states(pipeline::Transition::ManualPull));
    MoveWork m;
    m.study_uid = uid;
    m.generation = q[0].as<int>();
    m.priority = q[1].as<int>();
    m.exam_time = from_epoch(q[2]);
    m.pacs = q[3].is_null() ? "" : q[3].c_str();
    m.reason = "manual pull requested for " + key.str();
    record_event(w, uid, "", "finder", "manual", rules::Text::from_utf8(m.reason));
    out.push_back(m);
  }
  return out;
}

std::vector<MoveWork> stuck_queued(pqxx::work& w, std::chrono::seconds older_than, core::Time now) {
  std::vector<MoveWork> out;
  for (const auto& row : w.exec_params(kStuckQueued, static_cast<double>(older_than.count()), epoch(now),
                                       state_name(pipeline::StudyState::Queued))) {
    MoveWork m;
    m.study_uid = row[0].c_str();
    m.generation = row[1].as<int>();
    m.priority = row[2].as<int>();
    m.exam_time = from_epoch(row[3]);
    m.pacs = row[4].is_null() ? "" : row[4].c_str();
    m.reason = "re-published: queued without a move job";
    out.push_back(m);
  }
  return out;
}

}  // namespace pacspull::ledger
