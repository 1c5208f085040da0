#include "pacspull/ledger/receiver_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string_view>
#include <tuple>

#include "pacspull/ledger/ledger.hpp"
#include "state_sql.hpp"

namespace pacspull::ledger {
namespace {

// The rows of a batch, one statement (migration 013: the function's comment is the
// contract, the same per row as the six statements it replaces). Images no finder asked
// for (a push, a manual move from the PACS console) still get a study row, marked
// unsolicited ($22), and go through the same checks. New images for a settled study reopen
// it under a new generation so the checker, filter and dispatcher look at it again.
// $23: the states Transition::Reopen leaves (a new generation), $24: pulling, the state
// both Reopen and InstanceArrived lead to, $25: the states either leaves.
constexpr const char* kRecordInstances = R"sql(
SELECT o_row, o_new_instance, o_new_series, o_reopened, o_revived, o_file_gone
FROM pacspull_record_instances($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
  $8::text[], $9::text[], $10::integer[], $11::text[], $12::text[], $13::text[], $14::boolean[], $15::text[],
  $16::integer[], $17::boolean[], $18::text[], $19::text[], $20::text[], $21::text[], $22, $23::text[], $24,
  $25::text[]))sql";

constexpr const char* kInsertConflict = R"sql(
INSERT INTO instance_conflicts (sop_uid, study_uid, series_uid, kept_path, conflict_path, bytes, calling_ae, receiver)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (conflict_path) DO NOTHING RETURNING 1)sql";

// PostgreSQL array literals. Every element is quoted, so any text (commas, braces,
// quotes, backslashes, spaces) arrives as it is; a missing value is an unquoted NULL.
class ArrayLiteral {
 public:
  ArrayLiteral& add(std::string_view v) {
    sep();
    out_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
    out_ += '"';
    return *this;
  }
  ArrayLiteral& add(long long v) {
    sep();
    out_ += std::to_string(v);
    return *this;
  }
  ArrayLiteral& add(bool v) {
    sep();
    out_ += v ? "t" : "f";
    return *this;
  }
  ArrayLiteral& add(const std::optional<int>& v) {
    if (v) return add(static_cast<long long>(*v));
    sep();
    out_ += "NULL";
    return *this;
  }
  std::string str() const { return "{" + out_ + "}"; }

 private:
  void sep() {
    if (!out_.empty()) out_ += ',';
  }
  std::string out_;
};

// Raw bytes travel as hex (decoded by the function): no byte of a PACS's text is lost.
std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  return out;
}

std::string new_series_detail(const InstanceRow& i) {
  return rules::Text::from_utf8("first image of series " +
                                (i.series_number ? std::to_string(*i.series_number) : std::string("?")) + " (" +
                                i.modality.str() + ") from " + i.calling_ae.str() + " via " + i.receiver.str())
      .str();
}

}  // namespace

std::vector<RecordedInstance> record_instances(pqxx::work& w, const std::vector<const InstanceRow*>& rows) {
  std::vector<RecordedInstance> out(rows.size());
  if (rows.empty()) return out;
  ArrayLiteral study, series, sop, path, bytes, accession, patient, date, modality, number, description, calling,
      receiver, placed, detail;
  ArrayLiteral raw_row, raw_series_level, raw_attribute, raw_hex, raw_charset_hex, raw_decoded;
  for (size_t n = 0; n < rows.size(); ++n) {
    const InstanceRow& i = *rows[n];
    study.add(i.study_uid.str());
    series.add(i.series_uid.str());
    sop.add(i.sop_uid.str());
    path.add(i.path.str());
    bytes.add(i.bytes);
    accession.add(i.accession_number.str());
    patient.add(i.patient_id.str());
    date.add(i.study_date.str());
    modality.add(i.modality.str());
    number.add(i.series_number);
    description.add(i.series_description.str());
    calling.add(i.calling_ae.str());
    receiver.add(i.receiver.str());
    placed.add(i.file_placed);
    detail.add(new_series_detail(i));
    for (bool series_level : {false, true}) {
      for (const rules::RawText& r : series_level ? i.series_raws : i.study_raws) {
        raw_row.add(static_cast<long long>(n + 1));
        raw_series_level.add(series_level);
        raw_attribute.add(r.attribute);
        raw_hex.add(hex(r.raw));
        raw_charset_hex.add(hex(r.specific_character_set));
        raw_decoded.add(r.text.str());
      }
    }
  }
  using pipeline::Transition;
  const pqxx::result r = w.exec_params(
      kRecordInstances, study.str(), series.str(), sop.str(), path.str(), bytes.str(), accession.str(), patient.str(),
      date.str(), modality.str(), number.str(), description.str(), calling.str(), receiver.str(), placed.str(),
      detail.str(), raw_row.str(), raw_series_level.str(), raw_attribute.str(), raw_hex.str(), raw_charset_hex.str(),
      raw_decoded.str(), to_state(Transition::Unsolicited), from_states(Transition::Reopen),
      to_state(Transition::Reopen),
      state_array(pipeline::legal_from(Transition::Reopen) | pipeline::legal_from(Transition::InstanceArrived)));
  if (r.size() != rows.size())
    throw std::runtime_error("pacspull_record_instances returned " + std::to_string(r.size()) + " rows for " +
                             std::to_string(rows.size()));
  for (const auto& row : r) {
    const auto n = row[0].as<size_t>();
    if (n < 1 || n > rows.size()) throw std::runtime_error("pacspull_record_instances: row number out of range");
    RecordedInstance& o = out[n - 1];
    o.new_instance = row[1].as<bool>();
    o.new_series = row[2].as<bool>();
    o.reopened = row[3].as<bool>();
    o.revived = row[4].as<bool>();
    o.file_gone = row[5].as<bool>();
  }
  return out;
}

RecordedInstance record_instance(pqxx::work& w, const InstanceRow& i) { return record_instances(w, {&i})[0]; }

std::vector<BatchOutcome> record_batch(Ledger& ledger, const std::vector<BatchRow>& rows, const BatchCheck& check) {
  std::vector<BatchOutcome> out(rows.size());
  if (rows.empty()) return out;
  // A fixed order, so two receivers' batches lock the same studies in the same order.
  std::vector<size_t> order(rows.size());
  for (size_t n = 0; n < order.size(); ++n) order[n] = n;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(rows[a].row->study_uid.str(), rows[a].row->sop_uid.str()) <
           std::tie(rows[b].row->study_uid.str(), rows[b].row->sop_uid.str());
  });
  // Records `which` (indices into rows) in w: instances in one statement, then conflicts.
  auto record = [&](pqxx::work& w, const std::vector<size_t>& which) {
    std::vector<const InstanceRow*> instances;
    std::vector<size_t> instance_index;
    for (size_t n : which) {
      if (rows[n].conflict_path) continue;
      instances.push_back(rows[n].row);
      instance_index.push_back(n);
    }
    std::vector<RecordedInstance> recorded = record_instances(w, instances);
    std::vector<std::pair<size_t, RecordedInstance>> results;
    for (size_t k = 0; k < recorded.size(); ++k) {
      if (check) check(*instances[k], recorded[k]);
      results.emplace_back(instance_index[k], recorded[k]);
    }
    for (size_t n : which) {
      if (!rows[n].conflict_path) continue;
      record_conflict(w, *rows[n].row, rows[n].row->path, *rows[n].conflict_path);
      results.emplace_back(n, RecordedInstance{});
    }
    return results;
  };
  std::string batch_error;
  try {
    for (auto& [n, r] : ledger.transact([&](pqxx::work& w) { return record(w, order); })) out[n].recorded = r;
    return out;
  } catch (const std::exception& e) {
    batch_error = e.what();
  }
  if (rows.size() == 1) {
    out[0].error = batch_error;
    return out;
  }
  spdlog::warn("ledger: group commit of {} rows failed ({}); recording them one by one", rows.size(),
               rules::Text::from_utf8(batch_error).str());
  for (size_t n : order) {
    try {
      for (auto& [k, r] : ledger.transact([&](pqxx::work& w) { return record(w, {n}); })) out[k].recorded = r;
    } catch (const std::exception& e) {
      out[n].error = e.what();
    }
  }
  return out;
}

void record_conflict(pqxx::work& w, const InstanceRow& second, const rules::Text& kept_path,
                     const rules::Text& conflict_path) {
  const bool fresh = !w.exec_params(kInsertConflict, second.sop_uid.str(), second.study_uid.str(),
                                    second.series_uid.str(), kept_path.str(), conflict_path.str(), second.bytes,
                                    second.calling_ae.str(), second.receiver.str())
                          .empty();
  if (fresh)
    record_event(w, second.study_uid.str(), second.series_uid.str(), "receiver", "conflict",
                 rules::Text::from_utf8("instance " + second.sop_uid.str() + " received again from " +
                                        second.calling_ae.str() + " with different content: the first copy (" +
                                        kept_path.str() + ") is kept and dispatched, the second is kept aside at " +
                                        conflict_path.str()));
}

}  // namespace pacspull::ledger
