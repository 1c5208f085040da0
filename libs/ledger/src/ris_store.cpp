#include "pacspull/ledger/ris_store.hpp"

#include <algorithm>

#include "pacspull/pipeline/ris_orders.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kUpsertStep = R"sql(
INSERT INTO ris_order_steps (ris, accession, step_key, patient_id, body_parts, body_parts_raw, specific_character_set,
                             priority, scheduled_date, scheduled_at, first_seen_at, last_seen_at, status, cancelled_at)
VALUES ($1, $2, $3, $4, $5::text[], $6, $7, $8, $9, to_timestamp($10), to_timestamp($11), to_timestamp($11), $12,
        CASE WHEN $13 THEN to_timestamp($11) END)
ON CONFLICT (ris, accession, step_key) DO UPDATE SET patient_id = EXCLUDED.patient_id,
  body_parts = EXCLUDED.body_parts, body_parts_raw = EXCLUDED.body_parts_raw,
  specific_character_set = EXCLUDED.specific_character_set, priority = EXCLUDED.priority,
  scheduled_date = EXCLUDED.scheduled_date, scheduled_at = EXCLUDED.scheduled_at, last_seen_at = EXCLUDED.last_seen_at,
  status = EXCLUDED.status,
  -- when it was first seen cancelled; NULL again when the RIS puts the step back
  cancelled_at = CASE WHEN $13 THEN coalesce(ris_order_steps.cancelled_at, EXCLUDED.cancelled_at) END)sql";

// Every step of an order, in the order they were first seen (the merge keeps that order).
constexpr const char* kOrderSteps = R"sql(
SELECT step_key, patient_id, body_parts, body_parts_raw, specific_character_set, priority, scheduled_date,
       extract(epoch FROM scheduled_at)::bigint, status
FROM ris_order_steps WHERE ris = $1 AND accession = $2 ORDER BY first_seen_at, step_key)sql";

constexpr const char* kUpsertOrder = R"sql(
INSERT INTO ris_orders (ris, accession, patient_id, body_parts, body_parts_raw, specific_character_set, priority,
                        scheduled_date, scheduled_at, steps, first_seen_at, last_seen_at, cancelled_steps)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9), $10, to_timestamp($11), to_timestamp($11), $12)
ON CONFLICT (ris, accession) DO UPDATE SET patient_id = EXCLUDED.patient_id, body_parts = EXCLUDED.body_parts,
  body_parts_raw = EXCLUDED.body_parts_raw, specific_character_set = EXCLUDED.specific_character_set,
  priority = EXCLUDED.priority, scheduled_date = EXCLUDED.scheduled_date, scheduled_at = EXCLUDED.scheduled_at,
  steps = EXCLUDED.steps, last_seen_at = EXCLUDED.last_seen_at, cancelled_steps = EXCLUDED.cancelled_steps
RETURNING (xmax = 0))sql";

// Studies not yet moved: raising a finished study's priority changes nothing.
constexpr const char* kRaiseStudies = R"sql(
UPDATE studies SET priority = $2
WHERE accession_number = $1 AND accession_number <> '' AND priority < $2
RETURNING study_uid)sql";

constexpr const char* kRaiseJobs = R"sql(
UPDATE move_jobs SET priority = $2 WHERE study_uid = $1 AND status = 'pending' AND priority < $2)sql";

constexpr const char* kByAccession = R"sql(
SELECT ris, accession, patient_id, body_parts, body_parts_raw, specific_character_set, priority, scheduled_date,
       extract(epoch FROM scheduled_at)::bigint, steps, cancelled_steps
FROM ris_orders WHERE accession = $1 ORDER BY ris)sql";

// Cancelled steps do not count in the patient's day either (migration 16).
constexpr const char* kDayBodyParts = R"sql(
SELECT array_to_string(body_parts, ' | ') FROM ris_order_steps
WHERE patient_id = $1 AND patient_id <> '' AND scheduled_date = $2 AND cardinality(body_parts) > 0
  AND cancelled_at IS NULL
ORDER BY scheduled_at NULLS LAST, accession, step_key)sql";

constexpr const char* kApplyPriority = R"sql(
UPDATE studies s SET priority = greatest(s.priority, $2)
WHERE s.study_uid = $1 AND s.accession_number <> '' AND EXISTS (
  SELECT 1 FROM ris_orders o WHERE o.accession = s.accession_number AND o.priority IN ('STAT', 'HIGH'))
RETURNING s.priority)sql";

constexpr const char* kStudyKeys = R"sql(
SELECT accession_number, patient_id, study_date FROM studies WHERE study_uid = $1)sql";

// A text[] literal ({"a","b"}): every element quoted, backslashes and quotes escaped.
std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

long long epoch(core::Time t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

bool is_urgent_priority(const std::string& priority) { return pipeline::is_urgent(priority); }

RisUpsert upsert_ris_orders(pqxx::work& w, const std::vector<RisOrderRow>& steps, core::Time now) {
  RisUpsert out;
  std::vector<std::pair<std::string, std::string>> touched;  // (ris, accession), first-seen order
  for (const auto& o : steps) {
    if (o.accession.empty()) continue;
    std::vector<std::string> parts;
    for (const auto& t : o.body_part_list)
      if (!t.empty()) parts.push_back(t.str());
    if (o.body_part_list.empty() && !o.body_parts.empty()) parts.push_back(o.body_parts.str());
    std::optional<long long> at = o.scheduled_at ? std::optional<long long>(epoch(*o.scheduled_at)) : std::nullopt;
    const bool cancelled = pipeline::is_cancelled_step_status(o.status);
    w.exec_params(kUpsertStep, o.ris, o.accession.str(), rules::Text::from_utf8(o.step_key).str(), o.patient_id.str(),
                  text_array(parts), pqxx::binarystring(o.body_parts_raw.data(), o.body_parts_raw.size()),
                  rules::Text::ascii(o.specific_character_set).str(), rules::Text::ascii(o.priority).str(),
                  rules::Text::ascii(o.scheduled_date).str(), at, epoch(now), rules::Text::ascii(o.status).str(),
                  cancelled);
    ++out.steps;
    if (cancelled) ++out.cancelled;
    std::pair<std::string, std::string> key{o.ris, o.accession.str()};
    if (std::find(touched.begin(), touched.end(), key) == touched.end()) touched.push_back(std::move(key));
  }
  for (const auto& [ris, accession] : touched) {
    std::vector<pipeline::RisStep> stored;
    for (const auto& r : w.exec_params(kOrderSteps, ris, accession)) {
      pipeline::RisStep s;
      s.ris = ris;
      s.accession = accession;
      s.step_key = r[0].c_str();
      s.patient_id = r[1].c_str();
      auto arr = r[2].as_array();
      for (auto e = arr.get_next(); e.first != pqxx::array_parser::juncture::done; e = arr.get_next())
        if (e.first == pqxx::array_parser::juncture::string_value) s.body_parts.push_back(e.second);
      s.body_parts_raw = pqxx::binarystring(r[3]).str();
      s.specific_character_set = r[4].c_str();
      s.priority = r[5].c_str();
      s.scheduled_date = r[6].c_str();
      if (!r[7].is_null()) s.scheduled_at = core::Time{} + std::chrono::seconds(r[7].as<long long>());
      s.status = r[8].c_str();
      stored.push_back(std::move(s));
    }
    for (const auto& m : pipeline::merge_ris_steps(stored)) {
      std::optional<long long> at = m.scheduled_at ? std::optional<long long>(epoch(*m.scheduled_at)) : std::nullopt;
      pqxx::row r = w.exec_params1(kUpsertOrder, m.ris, m.accession, m.patient_id, pipeline::join_body_parts(m.body_parts),
                                   pqxx::binarystring(m.body_parts_raw.data(), m.body_parts_raw.size()),
                                   m.specific_character_set, m.priority, m.scheduled_date, at,
                                   static_cast<int>(m.step_keys.size()), epoch(now),
                                   static_cast<int>(m.cancelled_step_keys.size()));
      ++out.orders;
      if (r[0].as<bool>()) ++out.fresh;
      if (!m.patient_id_conflicts.empty()) ++out.patient_conflicts;
      if (!pipeline::is_urgent(m.priority)) continue;
      pqxx::result studies = w.exec_params(kRaiseStudies, m.accession, kRisUrgentPriority);
      for (const auto& s : studies) {
        ++out.raised_studies;
        out.raised_jobs += static_cast<int>(w.exec_params(kRaiseJobs, s[0].c_str(), kRisUrgentPriority).affected_rows());
      }
    }
  }
  return out;
}

std::vector<RisOrderRow> ris_orders_for_accession(pqxx::work& w, const std::string& accession) {
  std::vector<RisOrderRow> out;
  for (const auto& r : w.exec_params(kByAccession, accession)) {
    RisOrderRow o;
    o.ris = r[0].c_str();
    o.accession = rules::Text::from_utf8(r[1].c_str());
    o.patient_id = rules::Text::from_utf8(r[2].c_str());
    o.body_parts = rules::Text::from_utf8(r[3].c_str());
    pqxx::binarystring raw(r[4]);
    o.body_parts_raw = raw.str();
    o.specific_character_set = r[5].c_str();
    o.priority = r[6].c_str();
    o.scheduled_date = r[7].c_str();
    if (!r[8].is_null()) o.scheduled_at = core::Time{} + std::chrono::seconds(r[8].as<long long>());
    o.steps = r[9].as<int>();
    o.cancelled_steps = r[10].as<int>();
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<std::string> ris_day_body_parts(pqxx::work& w, const std::string& patient_id, const std::string& date) {
  std::vector<std::string> out;
  for (const auto& r : w.exec_params(kDayBodyParts, patient_id, date)) out.emplace_back(r[0].c_str());
  return out;
}

RisContext ris_context(pqxx::work& w, const std::string& study_uid) {
  RisContext out;
  pqxx::result r = w.exec_params(kStudyKeys, study_uid);
  if (r.empty()) return out;
  const std::string accession = r[0][0].c_str(), patient = r[0][1].c_str(), date = r[0][2].c_str();
  if (!accession.empty())
    for (const auto& o : ris_orders_for_accession(w, accession))
      if (!o.body_parts.empty()) out.body_parts.push_back(o.body_parts.str());
  if (!patient.empty() && !date.empty()) out.day_body_parts = ris_day_body_parts(w, patient, date);
  return out;
}

std::optional<int> apply_ris_priority(pqxx::work& w, const std::string& study_uid) {
  pqxx::result r = w.exec_params(kApplyPriority, study_uid, kRisUrgentPriority);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<int>();
}

}  // namespace pacspull::ledger
