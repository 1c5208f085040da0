#include "pacspull/pipeline/ris_orders.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

namespace pacspull::pipeline {

std::string join_body_parts(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += kBodyPartSeparator;
    out += p;
  }
  return out;
}

int ris_priority_rank(std::string_view p) {
  if (p.empty()) return -1;
  if (p == "STAT") return 5;
  if (p == "HIGH") return 4;
  if (p == "MEDIUM") return 3;
  if (p == "ROUTINE") return 2;
  if (p == "LOW") return 1;
  return 0;
}

bool is_urgent(std::string_view p) { return p == "STAT" || p == "HIGH"; }

bool is_cancelled_step_status(std::string_view status) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0'; };
  while (!status.empty() && space(status.front())) status.remove_prefix(1);
  while (!status.empty() && space(status.back())) status.remove_suffix(1);
  std::string upper(status);
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return upper == "CANCELED" || upper == "CANCELLED" || upper == "DISCONTINUED";
}

std::string ris_step_key(std::string_view requested_procedure_id, std::string_view step_id,
                         std::string_view body_parts_raw, std::string_view scheduled_date,
                         std::string_view scheduled_time) {
  if (!requested_procedure_id.empty() || !step_id.empty())
    return std::string(requested_procedure_id) + "/" + std::string(step_id);
  return "unnamed:" + std::string(scheduled_date) + " " + std::string(scheduled_time) + " " + std::string(body_parts_raw);
}

namespace {

bool earlier(const RisStep& s, const RisMergedOrder& o) {
  if (s.scheduled_at && o.scheduled_at) return *s.scheduled_at < *o.scheduled_at;
  if (s.scheduled_at != o.scheduled_at) return s.scheduled_at.has_value();  // a known time beats none
  return !s.scheduled_date.empty() && (o.scheduled_date.empty() || s.scheduled_date < o.scheduled_date);
}

void add_unique(std::vector<std::string>& to, const std::string& value) {
  if (!value.empty() && std::find(to.begin(), to.end(), value) == to.end()) to.push_back(value);
}

}  // namespace

std::vector<RisMergedOrder> merge_ris_steps(const std::vector<RisStep>& steps) {
  // The last copy of each step (a step polled twice), in the order steps first appear.
  std::vector<const RisStep*> unique;
  std::map<std::tuple<std::string, std::string, std::string>, size_t> step_at;
  for (const auto& s : steps) {
    auto [it, fresh] = step_at.emplace(std::make_tuple(s.ris, s.accession, s.step_key), unique.size());
    if (fresh) unique.push_back(&s);
    else unique[it->second] = &s;
  }

  std::vector<RisMergedOrder> out;
  std::map<std::pair<std::string, std::string>, size_t> order_at;
  std::vector<std::vector<std::string>> raws;  // per order: each distinct step raw text
  std::vector<std::string> cancelled_patient;  // per order: the first cancelled step's PatientID
  for (const RisStep* s : unique) {
    auto [it, fresh] = order_at.emplace(std::make_pair(s->ris, s->accession), out.size());
    if (fresh) {
      RisMergedOrder o;
      o.ris = s->ris;
      o.accession = s->accession;
      out.push_back(std::move(o));
      raws.emplace_back();
      cancelled_patient.emplace_back();
    }
    RisMergedOrder& o = out[it->second];
    if (is_cancelled_step_status(s->status)) {
      // Nothing of a cancelled step counts; while no step counts, it still says whose order it
      // was and when (`why`, and an order whose every step was cancelled).
      if (cancelled_patient[it->second].empty()) cancelled_patient[it->second] = s->patient_id;
      if (o.step_keys.empty()) {
        if (earlier(*s, o)) {
          o.scheduled_at = s->scheduled_at;
          o.scheduled_date = s->scheduled_date;
        }
      }
      o.cancelled_step_keys.push_back(s->step_key);
      continue;
    }
    if (o.step_keys.empty()) {  // the first step that counts: its patient, priority and schedule
      o.patient_id = s->patient_id;
      o.priority = s->priority;
      o.scheduled_date = s->scheduled_date;
      o.scheduled_at = s->scheduled_at;
    } else {
      if (o.patient_id.empty()) o.patient_id = s->patient_id;
      else if (!s->patient_id.empty() && s->patient_id != o.patient_id) add_unique(o.patient_id_conflicts, s->patient_id);
      if (ris_priority_rank(s->priority) > ris_priority_rank(o.priority)) o.priority = s->priority;
      if (earlier(*s, o)) {
        o.scheduled_at = s->scheduled_at;
        o.scheduled_date = s->scheduled_date;
      }
    }
    for (const auto& part : s->body_parts) add_unique(o.body_parts, part);
    if (!s->body_parts_raw.empty() &&
        std::find(raws[it->second].begin(), raws[it->second].end(), s->body_parts_raw) == raws[it->second].end()) {
      raws[it->second].push_back(s->body_parts_raw);
      o.body_parts_raw = join_body_parts(raws[it->second]);
    }
    if (o.specific_character_set.empty()) o.specific_character_set = s->specific_character_set;
    o.step_keys.push_back(s->step_key);
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].patient_id.empty()) out[i].patient_id = cancelled_patient[i];
  return out;
}

}  // namespace pacspull::pipeline
