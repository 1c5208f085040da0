#include "pacspull/ledger/timeline.hpp"

#include "pacspull/pipeline/ris_orders.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kStudies = R"sql(
SELECT study_uid, accession_number, patient_id, study_date, modalities, state, generation,
  coalesce(pacs_instances, -1), (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid),
  coalesce((SELECT string_agg(l.pacs || ' (' || p.host || ':' || p.port || ')', ', ')
            FROM study_locations l JOIN pacs_nodes p ON p.name = l.pacs WHERE l.study_uid = s.study_uid), ''),
  priority, filtered_generation
FROM studies s WHERE study_uid = $1 OR accession_number = $1 OR patient_id = $1
ORDER BY first_seen_at DESC LIMIT 20)sql";
constexpr const char* kEvents = R"sql(
SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), service, kind, detail, coalesce(series_uid, '')
FROM events WHERE study_uid = $1 ORDER BY at, id)sql";
// The RIS orders of a study's accession and the patient's other steps of the study date.
constexpr const char* kRisOrders = R"sql(
SELECT ris, accession, priority, body_parts, scheduled_date,
  coalesce(to_char(scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ''), steps
FROM ris_orders WHERE accession = $1 AND accession <> '' ORDER BY ris)sql";
constexpr const char* kRisCancelled = R"sql(
SELECT step_key, status, array_to_string(body_parts, ' | '), priority,
  to_char(cancelled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
FROM ris_order_steps WHERE ris = $1 AND accession = $2 AND cancelled_at IS NOT NULL ORDER BY first_seen_at, step_key)sql";
constexpr const char* kRisDay = R"sql(
SELECT array_to_string(body_parts, ' | ') FROM ris_order_steps
WHERE patient_id = $1 AND patient_id <> '' AND scheduled_date = $2 AND accession <> $3 AND cardinality(body_parts) > 0
  AND cancelled_at IS NULL
ORDER BY scheduled_at NULLS LAST, accession, step_key)sql";
// The RIS rule's part in the verdicts of one generation: a series it filtered, else what it looked at.
constexpr const char* kRisVerdict = R"sql(
SELECT coalesce(max(verdict_reason) FILTER (WHERE verdict_rule = 'ris'), ''),
       coalesce(max(looked_at ->> 'RIS body parts'), ''), count(*)
FROM series WHERE study_uid = $1 AND verdict_generation = $2)sql";

constexpr const char* kSummary = R"sql(
SELECT state, modalities, count(*) FROM studies WHERE ($1 = '' OR study_date = $1)
GROUP BY state, modalities ORDER BY state, modalities)sql";

constexpr const char* kList = R"sql(
SELECT study_uid, accession_number, patient_id, modalities, state,
  coalesce((SELECT pacs FROM study_locations l WHERE l.study_uid = s.study_uid ORDER BY first_seen_at LIMIT 1), ''),
  coalesce(extract(epoch FROM exam_time)::bigint, 0), coalesce(pacs_instances, -1),
  (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid), priority
FROM studies s
WHERE ($1 = '' OR study_date = $1) AND ($2 = '' OR state = $2) AND ($3 = '' OR position($3 in modalities) > 0)
ORDER BY priority DESC, exam_time NULLS LAST LIMIT $4)sql";

constexpr const char* kOldest = R"sql(
SELECT state, extract(epoch FROM now() - min(state_changed_at))::double precision FROM studies GROUP BY state)sql";

constexpr const char* kRawTexts = R"sql(
SELECT series_uid, attribute, encode(raw, 'hex'), encode(specific_character_set, 'escape'), decoded, source
FROM text_raw WHERE study_uid = $1 ORDER BY series_uid, attribute)sql";

constexpr const char* kConflicts = R"sql(
SELECT sop_uid, series_uid, kept_path, conflict_path, calling_ae,
  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
FROM instance_conflicts WHERE study_uid = $1 ORDER BY id)sql";

constexpr const char* kDayProgress = R"sql(
WITH got AS (
  SELECT i.study_uid, count(*) AS n FROM instances i JOIN studies s USING (study_uid)
  WHERE s.study_date = $1 GROUP BY i.study_uid)
SELECT s.modalities, s.state, count(*),
  count(*) FILTER (WHERE s.filtered_generation > 0),
  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM dispatches d WHERE d.study_uid = s.study_uid AND d.status = 'sent')),
  coalesce(sum(s.pacs_instances), 0)::bigint, coalesce(sum(got.n), 0)::bigint
FROM studies s LEFT JOIN got USING (study_uid)
WHERE s.study_date = $1 GROUP BY s.modalities, s.state ORDER BY s.modalities, s.state)sql";

constexpr const char* kRecent = R"sql(
SELECT
  (SELECT count(*) FROM studies WHERE study_date = $1 AND state IN ('completed', 'unsupported')
     AND state_changed_at > now() - make_interval(secs => $2)),
  (SELECT count(*) FROM instances i JOIN studies s USING (study_uid)
     WHERE s.study_date = $1 AND i.received_at > now() - make_interval(secs => $2)),
  coalesce((SELECT extract(epoch FROM now() - min(first_seen_at)) FROM studies WHERE study_date = $1), 0)::double precision)sql";

constexpr const char* kOldestPending = R"sql(
SELECT s.study_uid, s.state, s.modalities,
  extract(epoch FROM now() - s.first_seen_at)::double precision,
  extract(epoch FROM now() - s.state_changed_at)::double precision,
  coalesce(s.pacs_instances, -1), (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid),
  coalesce(e.service, ''), coalesce(e.kind, ''), coalesce(e.detail, ''),
  coalesce(extract(epoch FROM now() - e.at), 0)::double precision
FROM studies s
LEFT JOIN LATERAL (SELECT service, kind, detail, at FROM events
                   WHERE study_uid = s.study_uid ORDER BY at DESC, id DESC LIMIT 1) e ON true
WHERE s.study_date = $1 AND s.state NOT IN ('completed', 'unsupported', 'failed')
ORDER BY s.first_seen_at, s.study_uid LIMIT 1)sql";

constexpr const char* kParkedList = R"sql(
SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), service, subject, reason, length(payload)
FROM parked_messages ORDER BY id)sql";
constexpr const char* kParkedLock = "SELECT subject, payload FROM parked_messages WHERE id = $1 FOR UPDATE";
constexpr const char* kParkedDelete = "DELETE FROM parked_messages WHERE id = $1";

constexpr const char* kAuditStudy = R"sql(
SELECT s.state, coalesce(s.pacs_instances, -1), (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid),
  s.short, s.generation, s.filtered_generation, s.dispatched_generation,
  coalesce((SELECT m.status || ': ' || m.last_error FROM move_jobs m WHERE m.study_uid = s.study_uid
            ORDER BY m.id DESC LIMIT 1), ''),
  coalesce((SELECT string_agg(DISTINCT r.verdict_reason, '; ') FROM series r
            WHERE r.study_uid = s.study_uid AND r.verdict IS NOT NULL), '')
FROM studies s WHERE s.study_uid = $1)sql";

constexpr const char* kHasInstance = "SELECT 1 FROM instances WHERE sop_uid = $1";

}  // namespace

bool has_instance(pqxx::work& w, const std::string& sop_uid) { return !w.exec_params(kHasInstance, sop_uid).empty(); }

std::vector<pipeline::StateRow> day_progress(pqxx::work& w, const std::string& study_date) {
  std::vector<pipeline::StateRow> out;
  for (const auto& r : w.exec_params(kDayProgress, study_date))
    out.push_back({r[0].c_str(), r[1].c_str(), r[2].as<long>(), r[3].as<long>(), r[4].as<long>(), r[5].as<long>(),
                   r[6].as<long>()});
  return out;
}

pipeline::RecentActivity recent_activity(pqxx::work& w, const std::string& study_date, double window_seconds) {
  auto r = w.exec_params1(kRecent, study_date, window_seconds);
  pipeline::RecentActivity a;
  a.window_seconds = window_seconds;
  a.studies_done = r[0].as<long>();
  a.instances_received = r[1].as<long>();
  a.since_start_seconds = r[2].as<double>();
  return a;
}

std::optional<PendingStudy> oldest_pending(pqxx::work& w, const std::string& study_date) {
  auto rows = w.exec_params(kOldestPending, study_date);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  PendingStudy p;
  p.study_uid = r[0].c_str();
  p.state = r[1].c_str();
  p.modalities = r[2].c_str();
  p.waiting_seconds = r[3].as<double>();
  p.in_state_seconds = r[4].as<double>();
  p.pacs_instances = r[5].as<long>();
  p.received_instances = r[6].as<long>();
  p.event_service = r[7].c_str();
  p.event_kind = r[8].c_str();
  p.event_detail = r[9].c_str();
  p.event_age_seconds = r[10].as<double>();
  return p;
}

std::vector<ParkedMessage> parked_messages(pqxx::work& w) {
  std::vector<ParkedMessage> out;
  for (const auto& r : w.exec(kParkedList))
    out.push_back({r[0].as<long long>(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].c_str(), r[5].as<long>()});
  return out;
}

std::optional<ParkedPayload> lock_parked(pqxx::work& w, long long id) {
  auto rows = w.exec_params(kParkedLock, id);
  if (rows.empty()) return std::nullopt;
  pqxx::binarystring bytes(rows[0][1]);
  return ParkedPayload{rows[0][0].c_str(), bytes.str()};
}

void delete_parked(pqxx::work& w, long long id) { w.exec_params0(kParkedDelete, id); }

std::optional<AuditStudy> audit_study(pqxx::work& w, const std::string& study_uid) {
  auto rows = w.exec_params(kAuditStudy, study_uid);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  AuditStudy a;
  a.state = r[0].c_str();
  a.pacs_instances = r[1].as<long>();
  a.received_instances = r[2].as<long>();
  a.short_received = r[3].as<bool>();
  a.generation = r[4].as<int>();
  a.filtered_generation = r[5].as<int>();
  a.dispatched_generation = r[6].as<int>();
  a.last_move = r[7].c_str();
  a.filter_reason = r[8].c_str();
  return a;
}

std::vector<std::pair<std::string, double>> oldest_per_state(pqxx::work& w) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& r : w.exec(kOldest)) out.emplace_back(r[0].c_str(), r[1].as<double>());
  return out;
}

std::vector<StudyListItem> list_studies(pqxx::work& w, const std::string& study_date, const std::string& state,
                                        const std::string& modality, int limit) {
  std::vector<StudyListItem> out;
  for (const auto& r : w.exec_params(kList, study_date, state, modality, limit > 0 ? limit : 1000)) {
    StudyListItem i;
    i.study_uid = r[0].c_str();
    i.accession_number = r[1].c_str();
    i.patient_id = r[2].c_str();
    i.modalities = r[3].c_str();
    i.state = r[4].c_str();
    i.pacs = r[5].c_str();
    i.exam_time = r[6].as<long long>();
    i.pacs_instances = r[7].as<long>();
    i.received_instances = r[8].as<long>();
    i.priority = r[9].as<int>();
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<StudyTimeline> why(pqxx::work& w, const std::string& key) {
  std::vector<StudyTimeline> out;
  for (const auto& r : w.exec_params(kStudies, key)) {
    StudyTimeline t;
    t.study_uid = r[0].c_str();
    t.accession_number = r[1].c_str();
    t.patient_id = r[2].c_str();
    t.study_date = r[3].c_str();
    t.modalities = r[4].c_str();
    t.state = r[5].c_str();
    t.generation = r[6].as<int>();
    t.pacs_instances = r[7].as<long>();
    t.received_instances = r[8].as<long>();
    t.locations = r[9].c_str();
    t.priority = r[10].as<int>();
    const int filtered_generation = r[11].as<int>();
    for (const auto& o : w.exec_params(kRisOrders, t.accession_number)) {
      RisOrderView v{o[0].c_str(), o[1].c_str(), o[2].c_str(), o[3].c_str(), o[4].c_str(), o[5].c_str(),
                     o[6].as<int>(), pipeline::is_urgent(o[2].c_str()), {}};
      for (const auto& c : w.exec_params(kRisCancelled, v.ris, v.accession))
        v.cancelled_steps.push_back({c[0].c_str(), c[1].c_str(), c[2].c_str(), c[3].c_str(), c[4].c_str()});
      t.ris_orders.push_back(std::move(v));
    }
    for (const auto& d : w.exec_params(kRisDay, t.patient_id, t.study_date, t.accession_number))
      t.ris_day_body_parts.emplace_back(d[0].c_str());
    if (filtered_generation > 0) {
      pqxx::row v = w.exec_params1(kRisVerdict, t.study_uid, filtered_generation);
      if (v[2].as<long>() > 0) {
        const std::string reason = v[0].c_str(), looked = v[1].c_str();
        if (!reason.empty()) t.ris_decision = "filtered", t.ris_detail = reason;
        else if (!looked.empty()) t.ris_decision = "passed", t.ris_detail = "RIS body parts " + looked;
        else t.ris_decision = "not applied", t.ris_detail = "no RIS order was known when it was filtered (or rules.ris is off)";
      }
    }
    for (const auto& e : w.exec_params(kEvents, t.study_uid))
      t.events.push_back({e[0].c_str(), e[1].c_str(), e[2].c_str(), e[3].c_str(), e[4].c_str()});
    for (const auto& e : w.exec_params(kRawTexts, t.study_uid))
      t.raw_texts.push_back({e[0].c_str(), e[1].c_str(), e[2].c_str(), e[3].c_str(), e[4].c_str(), e[5].c_str()});
    for (const auto& e : w.exec_params(kConflicts, t.study_uid))
      t.conflicts.push_back({e[0].c_str(), e[1].c_str(), e[2].c_str(), e[3].c_str(), e[4].c_str(), e[5].c_str()});
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<StateCount> state_summary(pqxx::work& w, const std::string& study_date) {
  std::vector<StateCount> out;
  for (const auto& r : w.exec_params(kSummary, study_date)) out.push_back({r[0].c_str(), r[1].c_str(), r[2].as<long>()});
  return out;
}

}  // namespace pacspull::ledger
