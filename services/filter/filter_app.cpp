#include "filter_app.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "messages.hpp"
#include "pacspull/dicom/read.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/filter_store.hpp"
#include "pacspull/ledger/ris_store.hpp"
#include "pacspull/pipeline/state.hpp"
#include "pacspull/rpc/access.hpp"
#include "pacspull/rpc/server.hpp"
#include "pacspull/rules_yaml/load_rules.hpp"
#include "pacspull/runtime/grpc_security.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::services {
namespace {

ledger::VerdictRow to_row(const rules::Verdict& v, const core::AttributeMap& a) {
  ledger::VerdictRow row;
  row.pass = v.pass;
  row.rule = v.rule;
  row.reason = rules::Text::from_utf8(v.reason);
  nlohmann::json looked = nlohmann::json::object();
  for (const auto& [k, val] : v.looked_at) looked[k] = val;
  if (!v.charset_reading.empty()) looked["_charset_reading"] = v.charset_reading;
  // jsonb refuses \u0000: the values go through Text (NUL -> U+FFFD) before the dump.
  row.looked_at_json = rules::Text::from_utf8(looked.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  row.rule_version = v.rule_version;
  row.family = std::string(rules::to_string(v.family));
  row.slice_thickness = v.slice_thickness;
  row.kernel = rules::decoded(a, "ConvolutionKernel");
  return row;
}

void to_proto(const rules::Verdict& v, filter::v1::Verdict* out) {
  out->set_pass(v.pass);
  out->set_rule(v.rule);
  out->set_reason(v.reason);
  for (const auto& [k, val] : v.looked_at) (*out->mutable_looked_at())[k] = val;
  out->set_rule_version(v.rule_version);
  out->set_family(std::string(rules::to_string(v.family)));
  out->set_charset_reading(v.charset_reading);
}

rules::Level level_of(filter::v1::Level l) {
  switch (l) {
    case filter::v1::LEVEL_STUDY: return rules::Level::Study;
    case filter::v1::LEVEL_INSTANCE: return rules::Level::Instance;
    default: return rules::Level::Series;
  }
}

}  // namespace

FilterApp::FilterApp(runtime::Context& ctx)
    : ctx_(ctx), rules_(std::make_shared<const rules::RuleSet>(ctx.config.rules)) {
  std::error_code ec;
  config_mtime_ = std::filesystem::last_write_time(ctx.config.source, ec);
}

std::shared_ptr<const rules::RuleSet> FilterApp::rules() const {
  std::lock_guard lock(rules_mu_);
  return rules_;
}

std::string FilterApp::reload(const std::string& actor) {
  try {
    config::SiteConfig c = ctx_.reload_config();
    auto fresh = std::make_shared<const rules::RuleSet>(c.rules);
    std::string old;
    {
      std::lock_guard lock(rules_mu_);
      old = rules_->version();
      rules_ = fresh;
    }
    if (old != fresh->version()) spdlog::info("filter: rules reloaded: version {} -> {}", old, fresh->version());
    runtime::record_audit(ctx_, {actor, ledger::audit::kRulesReload, fresh->version(),
                                 runtime::audit_detail({{"from", old}, {"result", "applied"}})});
    return "";
  } catch (const std::exception& e) {
    spdlog::error("filter: rules not reloaded, keeping version {}: {}", rules()->version(), e.what());
    ctx_.metrics->counter("pacspull_filter_reload_failures_total", "rule reloads rejected").Increment();
    runtime::record_audit(ctx_, {actor, ledger::audit::kRulesReload, rules()->version(),
                                 runtime::audit_detail({{"result", "rejected"}, {"error", e.what()}})});
    return e.what();
  }
}

void FilterApp::maybe_reload() {
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(ctx_.config.source, ec);
  if (ec || mtime == config_mtime_) return;
  config_mtime_ = mtime;
  reload();
}

void FilterApp::run() {
  rpc::Server server(ctx_.ports.grpc_port, {this});
  bus::Worker worker(*ctx_.bus, runtime::filter_consumer(), [this](bus::Message& m) { return on_received(m); });
  worker.start();
  spdlog::info("filter: gRPC on :{}, rules version {}", server.port(), rules()->version());
  while (!ctx_.stop->wait_for(std::chrono::seconds(5))) {
    maybe_reload();
    try {
      auto stuck = ctx_.ledger->transact([&](pqxx::work& w) {
        return ledger::stuck_filtered(w, std::chrono::duration_cast<std::chrono::seconds>(ctx_.config.reconcile_after));
      });
      for (const auto& s : stuck) {
        spdlog::warn("filter: study {} filtered but not dispatched; re-publishing", s.study_uid);
        ctx_.metrics->counter("pacspull_reconciler_republished_total", "work re-published by a reconciler").Increment();
        publish_filtered(s, Publish::Again);
      }
    } catch (const std::exception& e) {
      spdlog::error("filter: reconcile: {}", e.what());
    }
  }
  worker.stop();
}

bus::Decision FilterApp::on_received(bus::Message& m) {
  events::v1::StudyReceived msg;
  if (auto parked = parse_or_park(ctx_, m, msg, [&] { return !msg.study_instance_uid().empty(); })) return *parked;
  auto rs = rules();
  try {
    auto study = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::study_to_filter(w, msg.study_instance_uid()); });
    if (!study || pipeline::parse_state(study->state) != pipeline::StudyState::Received ||
        study->generation != msg.generation() ||
        study->filtered_generation >= msg.generation())
      return bus::Decision::Ack;  // stale or already done: redelivery changes nothing
    // The RIS's body parts for the RIS rule (none known yet: the rule does not apply).
    const ledger::RisContext ris = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::ris_context(w, study->study_uid); });
    // Read and evaluate outside the transaction; record all verdicts in one.
    std::vector<std::pair<std::string, ledger::VerdictRow>> verdicts;
    int passed = 0;
    for (const auto& s : study->series) {
      if (s.verdict_generation && *s.verdict_generation == study->generation) continue;
      dicom::ReadResult r = dicom::read_attributes(s.first_instance_path);
      ledger::VerdictRow row;
      if (!r.attributes) {
        row.rule = "unreadable";
        row.reason = rules::Text::from_utf8("filter because first image unreadable: " + r.error);
        row.rule_version = rs->version();
        ctx_.metrics->counter("pacspull_filter_unreadable_total", "first images that could not be read").Increment();
      } else {
        rules::Context rc;
        rc.instance_count = s.instance_count;
        rc.ris_body_parts = ris.body_parts;
        rc.ris_day_body_parts = ris.day_body_parts;
        rules::Verdict v = rules::evaluate(*rs, rules::Level::Instance, *r.attributes, rc);
        row = to_row(v, *r.attributes);
      }
      if (row.pass) ++passed;
      ctx_.metrics
          ->counter("pacspull_filter_verdicts_total", "series verdicts",
                    {{"verdict", row.pass ? "pass" : "fail"}, {"rule", row.rule}})
          .Increment();
      spdlog::info("filter: study {} series {}: {}", study->study_uid, s.series_uid,
                   row.pass ? "pass (" + row.reason.str() + ")" : row.reason.str());
      verdicts.emplace_back(s.series_uid, std::move(row));
    }
    std::string summary = std::to_string(passed) + " of " + std::to_string(verdicts.size()) +
                          " series pass (rules " + rs->version() + ")";
    bool marked = ctx_.ledger->transact([&](pqxx::work& w) {
      for (const auto& [uid, row] : verdicts) ledger::record_verdict(w, study->study_uid, uid, study->generation, row);
      return ledger::mark_filtered(w, study->study_uid, study->generation, summary);
    });
    if (marked)
      publish_filtered({msg.study_instance_uid(), msg.generation(), msg.pacs_instances(), msg.received_instances(),
                        msg.short_()});
    return bus::Decision::Ack;
  } catch (const ledger::LedgerError& e) {
    spdlog::warn("filter: study {}: {}", msg.study_instance_uid(), e.what());
    return bus::Decision::Retry;
  }
}

void FilterApp::publish_filtered(const ledger::ReceivedWork& w, Publish how) {
  publish_study(ctx_, runtime::subjects::kStudyFiltered, "filtered", w, how);
}

grpc::Status FilterApp::Evaluate(grpc::ServerContext* sc, const filter::v1::EvaluateRequest* req,
                                 filter::v1::Verdict* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Read, "filter.Evaluate"); !denied.ok()) return denied;
  core::AttributeMap a;
  for (const auto& [k, v] : req->attributes()) a.set(k, v);
  rules::Context rc;
  if (req->instance_count() > 0) rc.instance_count = req->instance_count();
  for (const auto& b : req->ris_body_parts()) rc.ris_body_parts.push_back(b);
  to_proto(rules::evaluate(*rules(), level_of(req->level()), a, rc), resp);
  return grpc::Status::OK;
}

grpc::Status FilterApp::Explain(grpc::ServerContext* sc, const filter::v1::ExplainRequest* req,
                                filter::v1::ExplainResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Read, "filter.Explain"); !denied.ok()) return denied;
  std::string path = req->file_path();
  if (path.empty() && !req->series_instance_uid().empty()) {
    try {
      auto p = ctx_.ledger->transact(
          [&](pqxx::work& w) { return ledger::series_first_path(w, req->series_instance_uid()); });
      if (!p) return rpc::not_found("no series " + req->series_instance_uid() + " in the ledger");
      path = *p;
    } catch (const std::exception& e) {
      return rpc::unavailable(e.what());
    }
  }
  if (path.empty()) return rpc::invalid("give a file path or a series instance uid");
  // Only files under the store: Explain must not read the host's other files (issue 11).
  if (auto refused = rpc::confine_to_store(path, &path); !refused.ok()) return refused;
  dicom::ReadResult r = dicom::read_attributes(path);
  if (!r.attributes) return rpc::invalid("cannot read " + path + ": " + r.error);
  std::string charset = r.attributes->trimmed("SpecificCharacterSet");
  for (const auto& [k, v] : r.attributes->all())
    if (v.size() < 256) (*resp->mutable_attributes())[k] = rules::decode_to_utf8(v, charset);
  to_proto(rules::evaluate(*rules(), rules::Level::Instance, *r.attributes), resp->mutable_verdict());
  return grpc::Status::OK;
}

grpc::Status FilterApp::ReloadRules(grpc::ServerContext* sc, const filter::v1::ReloadRulesRequest*,
                                    filter::v1::ReloadRulesResponse* resp) {
  rpc::Caller caller;
  if (auto denied = rpc::authorize(sc, rpc::Access::Mutate, "filter.ReloadRules", &caller); !denied.ok()) return denied;
  resp->set_error(reload(caller.actor));
  resp->set_rule_version(rules()->version());
  return grpc::Status::OK;
}

grpc::Status FilterApp::Replay(grpc::ServerContext* sc, const filter::v1::ReplayRequest* req,
                              filter::v1::ReplayResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Mutate, "filter.Replay"); !denied.ok()) return denied;
  rules::RuleSet candidate;
  try {
    candidate = rules::load_rules_file(req->candidate_rules_path());
  } catch (const std::exception& e) {
    return rpc::invalid(e.what());
  }
  int days = req->days() > 0 ? req->days() : 7;
  std::vector<ledger::SeriesForReplay> series;
  try {
    series = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::series_for_replay(w, days); });
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
  resp->set_current_rule_version(rules()->version());
  resp->set_candidate_rule_version(candidate.version());
  for (const auto& s : series) {
    dicom::ReadResult r = dicom::read_attributes(s.first_instance_path);
    if (!r.attributes) {
      resp->set_unreadable(resp->unreadable() + 1);  // handed on and deleted, or moved away
      continue;
    }
    rules::Context rc;
    rc.instance_count = s.instance_count;
    rules::Verdict v = rules::evaluate(candidate, rules::Level::Instance, *r.attributes, rc);
    resp->set_series_evaluated(resp->series_evaluated() + 1);
    bool was = s.verdict == "pass";
    if (v.pass == was) continue;
    auto* c = resp->add_changes();
    c->set_study_instance_uid(s.study_uid);
    c->set_series_instance_uid(s.series_uid);
    c->set_modality(s.modality);
    c->set_was_pass(was);
    c->set_was_reason(s.verdict_reason);
    c->set_now_pass(v.pass);
    c->set_now_reason(v.reason);
  }
  return grpc::Status::OK;
}

}  // namespace pacspull::services
