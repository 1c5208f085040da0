#include "pacspull/dicom/worklist.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "association.hpp"
#include "bridge.hpp"
#include "cfind.hpp"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk_setup.hpp"
#include "pacspull/pipeline/ris_orders.hpp"

namespace pacspull::dicom {
namespace {

using detail::ScuAssociation;

int seconds(std::chrono::seconds s) { return s.count() <= 0 ? 1 : static_cast<int>(s.count()); }

std::string describe(const Peer& peer) {
  return peer.ae_title.str() + "@" + peer.host + ":" + std::to_string(peer.port);
}

// The identifier: every key we read back is a return key; the step's start date carries
// the window and, when given, Modality the one modality of this query.
std::string build_identifier(DcmDataset& id, const WorklistQuery& q, const std::string& modality) {
  core::AttributeMap top{{"SpecificCharacterSet", ""},          {"AccessionNumber", ""},
                         {"PatientID", ""},                     {"PatientName", ""},
                         {"RequestedProcedureID", ""},          {"RequestedProcedureDescription", ""},
                         {"RequestedProcedurePriority", ""},    {"StudyInstanceUID", ""},
                         // Not an MWL key: a RIS that knows it answers it, others say 0xFF01.
                         {"BodyPartExamined", ""}};
  if (std::string err = detail::put_attributes(top, id); !err.empty()) return err;
  DcmItem* code = nullptr;
  if (id.findOrCreateSequenceItem(DCM_RequestedProcedureCodeSequence, code, -2).bad() || code == nullptr)
    return "cannot build RequestedProcedureCodeSequence";
  if (std::string err = detail::put_attributes({{"CodeValue", ""}, {"CodingSchemeDesignator", ""}, {"CodeMeaning", ""}}, *code);
      !err.empty())
    return err;
  DcmItem* sps = nullptr;
  if (id.findOrCreateSequenceItem(DCM_ScheduledProcedureStepSequence, sps, -2).bad() || sps == nullptr)
    return "cannot build ScheduledProcedureStepSequence";
  const std::string range = q.date_from == q.date_to ? q.date_from : q.date_from + "-" + q.date_to;
  return detail::put_attributes({{"Modality", modality},
                                 {"ScheduledProcedureStepStartDate", range},
                                 {"ScheduledProcedureStepStartTime", ""},
                                 {"ScheduledProcedureStepDescription", ""},
                                 {"ScheduledProcedureStepID", ""},
                                 // A return key wlmscpfs and most RIS answer: a cancelled step
                                 // must leave its order's merge (pipeline::merge_ris_steps).
                                 {"ScheduledProcedureStepStatus", ""},
                                 {"ScheduledStationAETitle", ""}},
                                *sps);
}

// Top level + first item of each sequence we asked for, flattened (raw values).
core::AttributeMap flatten(DcmDataset& ds) {
  core::AttributeMap out = detail::to_attributes(ds);
  for (const DcmTagKey& seq : {DCM_ScheduledProcedureStepSequence, DCM_RequestedProcedureCodeSequence}) {
    DcmItem* item = nullptr;
    if (ds.findAndGetSequenceItem(seq, item, 0).good() && item != nullptr) {
      const core::AttributeMap nested = detail::to_attributes(*item);  // outlives the loop
      for (const auto& [k, v] : nested.all())
        if (!out.has(k)) out.set(k, v);
    }
  }
  return out;
}

WorklistOrder to_order(core::AttributeMap a) {
  WorklistOrder o;
  o.accession_number = rules::decoded(a, "AccessionNumber");
  o.patient_id = rules::decoded(a, "PatientID");
  o.body_part = rules::decoded(a, "BodyPartExamined");
  o.procedure_code_meaning = rules::decoded(a, "CodeMeaning");
  o.procedure_code = rules::decoded(a, "CodeValue");
  o.requested_procedure_description = rules::decoded(a, "RequestedProcedureDescription");
  o.step_description = rules::decoded(a, "ScheduledProcedureStepDescription");
  o.modality = rules::Text::ascii(a.trimmed("Modality"));
  auto upper = [&](const char* keyword) {
    std::string v = rules::Text::ascii(a.trimmed(keyword)).str();
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return v;
  };
  o.priority = upper("RequestedProcedurePriority");
  o.step_status = upper("ScheduledProcedureStepStatus");
  o.scheduled_date = rules::Text::ascii(a.trimmed("ScheduledProcedureStepStartDate")).str();
  o.scheduled_time = rules::Text::ascii(a.trimmed("ScheduledProcedureStepStartTime")).str();
  o.attributes = std::move(a);
  return o;
}

constexpr const char* kBodyPartKeys[] = {"BodyPartExamined", "CodeMeaning", "CodeValue", "RequestedProcedureDescription",
                                         "ScheduledProcedureStepDescription"};

}  // namespace

bool WorklistOrder::cancelled() const { return pipeline::is_cancelled_step_status(step_status); }

std::vector<rules::Text> WorklistOrder::body_parts() const {
  std::vector<rules::Text> out;
  for (const char* k : kBodyPartKeys) {
    rules::Text t = rules::decoded(attributes, k);
    if (!t.empty() && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

std::string WorklistOrder::body_parts_raw() const {
  std::string out;
  std::set<std::string> seen;
  for (const char* k : kBodyPartKeys) {
    std::string raw = attributes.trimmed(k);
    if (raw.empty() || !seen.insert(raw).second) continue;
    out += (out.empty() ? "" : " | ") + raw;
  }
  return out;
}

WorklistResult find_worklist(const ScuOptions& options, const Peer& peer, const WorklistQuery& query) {
  detail::ensure_dcmtk_setup();
  WorklistResult result;
  std::vector<std::string> modalities = query.modalities;
  if (modalities.empty()) modalities.push_back("");
  // A step asked twice (two modality queries) counts once. Its identity: accession, requested
  // procedure and step ids, and, for a RIS that names neither, its texts and schedule (two
  // unnamed steps of one accession are two steps).
  std::set<std::string> seen;
  size_t dropped_without_accession = 0;

  for (const auto& modality : modalities) {
    const std::string what = "worklist C-FIND " + query.date_from + "-" + query.date_to +
                             (modality.empty() ? std::string() : " " + modality) + " on " + describe(peer);
    auto fail = [&](Error e) {
      spdlog::warn("dicom: {}", e.message);
      if (!result.error) result.error = std::move(e);
    };
    DcmDataset identifier;
    if (std::string err = build_identifier(identifier, query, modality); !err.empty()) {
      fail(Error{ErrorClass::Permanent, what + ": " + err});
      continue;
    }
    ScuAssociation assoc;
    if (auto err = assoc.open(options, peer,
                              {{UID_FINDModalityWorklistInformationModel,
                                {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}}})) {
      fail(Error{err->cls, what + ": " + err->message});
      continue;  // the next modality may still answer; a RIS that is down fails them all quickly
    }
    detail::FindExchange ex = detail::run_find(
        assoc, UID_FINDModalityWorklistInformationModel, identifier, seconds(options.dimse_timeout),
        1000,  // a RIS that ignores C-CANCEL is cut off
        what, [&](DcmDataset& match) {
          WorklistOrder order = to_order(flatten(match));
          if (order.accession_number.empty()) {
            ++dropped_without_accession;
            return detail::MatchVerdict::Continue;
          }
          const std::string step = order.accession_number.str() + '\n' + order.attributes.trimmed("RequestedProcedureID") +
                                   '\n' + order.attributes.trimmed("ScheduledProcedureStepID") + '\n' +
                                   order.body_parts_raw() + '\n' + order.scheduled_date + order.scheduled_time;
          if (!seen.insert(step).second) return detail::MatchVerdict::Continue;
          result.orders.push_back(std::move(order));
          if (options.max_results != 0 && result.orders.size() >= options.max_results) {
            result.truncated = true;
            spdlog::warn("dicom: {}: {} orders reached, sending C-CANCEL (result truncated)", what, options.max_results);
            return detail::MatchVerdict::Cancel;
          }
          return detail::MatchVerdict::Continue;
        });
    if (ex.ended_by_peer) {
      result.truncated = true;  // the RIS capped its answers itself: what came is kept, and said
      spdlog::warn("dicom: {}: the RIS ended the answers itself after {} orders (0xFE00)", what, result.orders.size());
    }
    if (ex.error) {
      fail(std::move(*ex.error));
      assoc.abort();
    } else {
      assoc.release();
    }
    if (result.truncated) break;
  }
  if (dropped_without_accession > 0)
    spdlog::warn("dicom: worklist on {}: {} scheduled steps without AccessionNumber ignored", describe(peer),
                 dropped_without_accession);
  return result;
}

}  // namespace pacspull::dicom
