#include "finder_app.hpp"

#include <spdlog/spdlog.h>

#include <map>

#include "dicom_options.hpp"
#include "messages.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/timeline.hpp"
#include "pacspull/pipeline/modalities.hpp"
#include "pacspull/pipeline/query_window.hpp"
#include "pacspull/rpc/server.hpp"
#include "pacspull/rules/rules.hpp"
#include "pacspull/rules/text.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::services {
namespace {

// DX family only (no CT): few images, pulled as soon as found.
bool pull_at_once(const rules::RuleSet& rs, const std::vector<std::string>& modalities) {
  bool dx = false;
  for (const auto& m : modalities) {
    auto f = rules::family_of(rs, m);
    if (f == rules::Family::Ct) return false;
    if (f == rules::Family::Dx) dx = true;
  }
  return dx;
}

}  // namespace

FinderApp::FinderApp(runtime::Context& ctx) : ctx_(ctx) {}

void FinderApp::run() {
  std::vector<ledger::PacsNodeRow> nodes;
  for (const auto& p : ctx_.config.pacs)
    nodes.push_back({p.name, p.node.ae_title.str(), p.node.host, static_cast<int>(p.node.port)});
  ctx_.ledger->transact([&](pqxx::work& w) { ledger::sync_pacs_nodes(w, nodes); });
  const auto& finder = ctx_.config.finder;
  if (finder.modalities_set) {
    auto warnings = pipeline::modality_warnings(ctx_.config.rules, finder.modalities);
    for (const auto& w : warnings) spdlog::warn("finder: configuration: {}", w);
    ctx_.metrics->gauge("pacspull_finder_config_warnings", "contradictions between finder.modalities and the rules")
        .Set(static_cast<double>(warnings.size()));
  }
  for (const auto& p : ctx_.config.pacs)  // at 0, so per-PACS error alerts see every PACS
    ctx_.metrics->counter("pacspull_finder_query_errors_total", "C-FIND failures", {{"pacs", p.name}});
  rpc::Server server(ctx_.ports.grpc_port, {this});
  spdlog::info("finder: gRPC on :{}, polling {} PACS every {} ms for {} ({}), StudyDate in {} local dates", server.port(),
               nodes.size(), finder.poll_interval.count(), fmt::join(finder.modalities, ", "),
               finder.modalities_set ? "finder.modalities" : "from the rules", ctx_.config.zone.name());
  do {
    try {
      poll_once();
      reconcile();
    } catch (const std::exception& e) {
      spdlog::error("finder: poll cycle failed: {}", e.what());
      ctx_.metrics->counter("pacspull_finder_poll_failures_total", "poll cycles that failed").Increment();
    }
  } while (!ctx_.stop->wait_for(ctx_.config.finder.poll_interval));
}

PollSummary FinderApp::poll_once() {
  std::lock_guard lock(poll_mu_);
  PollSummary summary;
  const auto& cfg = ctx_.config;
  // StudyDate is the hospital's wall clock: the window is made of local dates.
  const core::Time now = ctx_.clock->now();
  const pipeline::DateWindow window = pipeline::query_window(now, cfg.zone, cfg.finder.crossday);
  const std::string& from = window.from;
  const std::string& to = window.to;

  // study uid -> what every PACS said of it; the first PACS in configuration order that
  // has it is where it will be moved from.
  std::map<std::string, ledger::FoundStudy> merged;
  for (const auto& pacs : cfg.pacs) {
    int returned = 0;
    for (const auto& modality : cfg.finder.modalities) {
      dicom::FindResult r = dicom::find(scu_options(cfg, pacs.max_results), peer_of(pacs.node),
                                        dicom::QueryLevel::Study, study_query(from, to, modality));
      if (r.error) {
        const std::string message = rules::Text::from_utf8(r.error->message).str();
        summary.errors.push_back(pacs.name + ": " + message);
        spdlog::warn("finder: C-FIND {} on PACS {} failed: {}", modality, pacs.name, message);
        ctx_.metrics->counter("pacspull_finder_query_errors_total", "C-FIND failures", {{"pacs", pacs.name}}).Increment();
        continue;
      }
      if (r.truncated) {
        spdlog::warn("finder: PACS {} capped the C-FIND for {} at {} results", pacs.name, modality, r.matches.size());
        ctx_.metrics->counter("pacspull_finder_truncated_queries_total", "C-FIND results capped", {{"pacs", pacs.name}})
            .Increment();
      }
      for (const auto& m : r.matches) {
        ++returned;
        const std::string uid = m.trimmed("StudyInstanceUID");
        if (uid.empty() || rules::Text::ascii(uid).str() != uid || uid.find(' ') != std::string::npos) {
          // No AccessionNumber or PatientID in logs: the date, time and modalities locate it.
          spdlog::warn("finder: PACS {} returned a study with an unusable StudyInstanceUID '{}' (StudyDate {} "
                       "StudyTime {}, {})",
                       pacs.name, rules::Text::ascii(uid).str(), rules::Text::ascii(m.trimmed("StudyDate")).str(),
                       rules::Text::ascii(m.trimmed("StudyTime")).str(),
                       rules::Text::ascii(m.trimmed("ModalitiesInStudy")).str());
          ctx_.metrics->counter("pacspull_finder_bad_uids_total", "studies with empty or illegal UIDs",
                                {{"pacs", pacs.name}})
              .Increment();
          continue;
        }
        // Study level knows only ModalitiesInStudy; "contains", never "equals".
        rules::Verdict v = rules::evaluate(cfg.rules, rules::Level::Study, m);
        if (!v.pass) continue;
        auto [it, fresh] = merged.try_emplace(uid);
        ledger::FoundStudy& s = it->second;
        std::optional<long> count = m.integer("NumberOfStudyRelatedInstances");
        if (fresh) {
          s.study_uid = uid;
          s.accession_number = rules::decoded(m, "AccessionNumber");
          s.patient_id = rules::decoded(m, "PatientID");
          s.study_date = rules::Text::ascii(m.trimmed("StudyDate"));
          s.exam_time = core::parse_dicom_datetime(s.study_date.str(), m.trimmed("StudyTime"), cfg.zone);
          std::vector<std::string> mods = m.values("ModalitiesInStudy");
          std::string joined;
          for (const auto& x : mods) joined += (joined.empty() ? "" : "\\") + x;
          s.modalities = rules::Text::ascii(joined);
          s.description = rules::decoded(m, "StudyDescription");
          s.raws = rules::raw_texts(m, {"AccessionNumber", "PatientID", "StudyDescription", "PatientName"});
          s.pull_at_once = pull_at_once(cfg.rules, mods);
          s.pacs_instances = count;
        } else if (count && (!s.pacs_instances || *count > *s.pacs_instances)) {
          s.pacs_instances = count;  // mirrored PACS: the fuller one counts
        }
        bool listed = false;
        for (auto& [name, n] : s.locations)
          if (name == pacs.name) listed = true;
        if (!listed) s.locations.emplace_back(pacs.name, count);
      }
    }
    spdlog::info("finder: find {} studies from PACS {}", returned, pacs.name);
  }
  summary.found = static_cast<int>(merged.size());
  ctx_.metrics->counter("pacspull_finder_polls_total", "poll cycles").Increment();

  for (auto& [uid, s] : merged) {
    ledger::Observed o;
    try {
      o = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::observe_study(w, s, {std::chrono::duration_cast<core::Seconds>(cfg.finder.fixed_delay)}, now); });
    } catch (const std::exception& e) {
      summary.errors.push_back(uid + ": " + e.what());
      spdlog::error("finder: recording study {} failed: {}", uid, e.what());
      continue;
    }
    if (o.first_sight) {
      ++summary.fresh;
      ctx_.metrics
          ->counter("pacspull_finder_studies_found_total", "new studies seen",
                    {{"pacs", s.locations.empty() ? std::string() : s.locations.front().first}})
          .Increment();
      spdlog::info("finder: new study {} ({}), {} instances", uid, s.modalities.str(),
                   s.pacs_instances ? std::to_string(*s.pacs_instances) : "?");
    }
    if (o.move) {
      ++summary.queued;
      spdlog::info("finder: stable study {}: {}", uid, o.decision.reason);
      ctx_.metrics->counter("pacspull_finder_studies_queued_total", "move requests issued").Increment();
      publish_move(*o.move);
    }
  }
  spdlog::info("finder: poll done (StudyDate {}, {} local time {}): {} chest-candidate studies after modality filter, {} new, {} queued for move",
               window.dicom_range(), cfg.zone.name(), core::format_civil(cfg.zone.to_local(now)), summary.found,
               summary.fresh, summary.queued);
  return summary;
}

void FinderApp::publish_move(const ledger::MoveWork& m, Publish how) { services::publish_move(ctx_, m, how); }

void FinderApp::reconcile() {
  auto stuck = ctx_.ledger->transact([&](pqxx::work& w) {
    return ledger::stuck_queued(w, std::chrono::duration_cast<std::chrono::seconds>(ctx_.config.reconcile_after),
                                ctx_.clock->now());
  });
  for (const auto& m : stuck) {
    spdlog::warn("finder: study {} queued without a move job; re-publishing", m.study_uid);
    ctx_.metrics->counter("pacspull_reconciler_republished_total", "work re-published by a reconciler").Increment();
    publish_move(m, Publish::Again);
  }
}

grpc::Status FinderApp::PollNow(grpc::ServerContext*, const finder::v1::PollNowRequest*,
                                finder::v1::PollNowResponse* resp) {
  try {
    PollSummary s = poll_once();
    resp->set_studies_found(s.found);
    resp->set_studies_new(s.fresh);
    resp->set_studies_stable(s.queued);
    for (const auto& e : s.errors) resp->add_errors(e);
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

grpc::Status FinderApp::RequestPull(grpc::ServerContext*, const finder::v1::RequestPullRequest* req,
                                    finder::v1::RequestPullResponse* resp) {
  std::string key = !req->study_instance_uid().empty() ? req->study_instance_uid()
                    : !req->accession_number().empty() ? req->accession_number()
                                                       : req->patient_id();
  if (key.empty()) return rpc::invalid("give a study instance uid, accession number or patient id");
  std::optional<rules::Text> checked = rules::Text::checked(key);
  if (!checked) return rpc::invalid("the key is not valid UTF-8 text (or holds a NUL byte)");
  try {
    auto moves = ctx_.ledger->transact(
        [&](pqxx::work& w) { return ledger::request_manual_pull(w, *checked, common::v1::PRIORITY_MANUAL, ctx_.clock->now()); });
    for (const auto& m : moves) {
      publish_move(m);
      resp->add_study_instance_uids(m.study_uid);
    }
    resp->set_message(moves.empty() ? "no study in the ledger matches " + key + "; poll first"
                                    : "queued " + std::to_string(moves.size()) + " studies at manual priority");
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

grpc::Status FinderApp::ListStudies(grpc::ServerContext*, const finder::v1::ListStudiesRequest* req,
                                    finder::v1::ListStudiesResponse* resp) {
  std::string state;
  if (req->state() != common::v1::STUDY_STATE_UNSPECIFIED) {
    state = common::v1::StudyState_Name(req->state()).substr(std::string("STUDY_STATE_").size());
    for (auto& ch : state) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  try {
    auto items = ctx_.ledger->transact(
        [&](pqxx::work& w) { return ledger::list_studies(w, req->exam_date(), state, req->modality(), req->limit()); });
    for (const auto& i : items) {
      auto* s = resp->add_studies();
      s->mutable_study()->set_study_instance_uid(i.study_uid);
      s->mutable_study()->set_accession_number(i.accession_number);
      s->mutable_study()->set_patient_id(i.patient_id);
      std::string upper = "STUDY_STATE_";
      for (char ch : i.state) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      common::v1::StudyState st;
      if (common::v1::StudyState_Parse(upper, &st)) s->set_state(st);
      s->set_modalities(i.modalities);
      s->mutable_exam_time()->set_seconds(i.exam_time);
      s->set_pacs_instances(i.pacs_instances);
      s->set_received_instances(i.received_instances);
      s->set_priority(static_cast<common::v1::Priority>(i.priority));
      s->set_pacs(i.pacs);
    }
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

}  // namespace pacspull::services
