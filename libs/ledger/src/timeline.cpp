#include "pacspull/ledger/timeline.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kStudies = R"sql(
SELECT study_uid, accession_number, patient_id, study_date, modalities, state, generation,
  coalesce(pacs_instances, -1), (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid),
  coalesce((SELECT string_agg(l.pacs || ' (' || p.host || ':' || p.port || ')', ', ')
            FROM study_locations l JOIN pacs_nodes p ON p.name = l.pacs WHERE l.study_uid = s.study_uid), '')
FROM studies s WHERE study_uid = $1 OR accession_number = $1 OR patient_id = $1
ORDER BY first_seen_at DESC LIMIT 20)sql";
constexpr const char* kEvents = R"sql(
SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), service, kind, detail, coalesce(series_uid, '')
FROM events WHERE study_uid = $1 ORDER BY at, id)sql";
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

}  // namespace

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
