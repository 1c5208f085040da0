#include "dispatcher_app.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "dicom_options.hpp"
#include "messages.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/outbox.hpp"
#include "pacspull/rpc/server.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::services {
namespace {

constexpr size_t kChunk = 32;  // instances per association; each chunk is recorded as sent

rules::SeriesCandidate candidate(const rules::RuleSet& rs, const ledger::SeriesVerdict& v) {
  rules::SeriesCandidate c;
  c.uid = core::SeriesUid(v.series_uid);
  c.family = rules::family_of(rs, v.modality);
  c.passed = v.pass;
  c.slice_thickness = v.slice_thickness;
  c.instance_count = v.instance_count;
  c.kernel = v.kernel;
  c.description = v.description;
  c.series_number = v.series_number;
  return c;
}

}  // namespace

DispatcherApp::DispatcherApp(runtime::Context& ctx) : ctx_(ctx) {}

void DispatcherApp::run() {
  for (const char* outcome : {"ok", "retryable", "permanent"})  // at 0, so "all failing" alerts can fire
    ctx_.metrics->counter("pacspull_dispatcher_dispatches_total", "dispatch outcomes", {{"outcome", outcome}});
  rpc::Server server(ctx_.ports.grpc_port, {this});
  relay_ = std::make_unique<OutboxRelay>(*ctx_.ledger, *ctx_.bus, ctx_.metrics.get(),
                                         OutboxRelay::Options{ctx_.service, 100, std::chrono::milliseconds(1000), {}});
  relay_->start();  // events committed before a crash are published now
  bus::Worker worker(*ctx_.bus, runtime::dispatcher_consumer(), [this](bus::Message& m) { return on_filtered(m); });
  worker.start();
  spdlog::info("dispatcher: gRPC on :{}, AI node {}@{}:{}", server.port(), ctx_.config.ai_node.ae_title.str(),
               ctx_.config.ai_node.host, ctx_.config.ai_node.port);
  while (!ctx_.stop->wait_for(std::chrono::seconds(3600))) {
  }
  worker.stop();
  relay_->stop();
}

bus::Decision DispatcherApp::on_filtered(bus::Message& m) {
  events::v1::StudyReceived msg;
  if (auto parked = parse_or_park(ctx_, m, msg, [&] { return !msg.study_instance_uid().empty(); })) return *parked;
  const std::string& uid = msg.study_instance_uid();
  try {
    auto s = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::study_to_dispatch(w, uid); });
    if (!s || s->state != "received" || s->generation != msg.generation() ||
        s->filtered_generation != msg.generation() || s->dispatched_generation >= msg.generation())
      return bus::Decision::Ack;  // stale or already settled: redelivery changes nothing
    std::vector<rules::SeriesCandidate> candidates;
    for (const auto& v : s->series) candidates.push_back(candidate(ctx_.config.rules, v));
    pipeline::DispatchPlan plan = pipeline::plan_dispatch(ctx_.config.rules, candidates, s->previously_sent, s->previously_sent_instances);
    if (plan.kind != pipeline::DispatchPlan::Kind::Send) {
      const char* state = plan.kind == pipeline::DispatchPlan::Kind::Unsupported ? "unsupported" : "completed";
      ctx_.ledger->transact(
          [&](pqxx::work& w) { ledger::settle_without_dispatch(w, uid, s->generation, state, plan.reason); });
      spdlog::info("dispatcher: study {}: {}", uid, plan.reason);
      ctx_.metrics->counter("pacspull_dispatcher_not_dispatched_total", "study generations settled without a hand-off",
                            {{"state", state}})
          .Increment();
      return bus::Decision::Ack;
    }
    const auto& ai = ctx_.config.ai_node;
    std::string ai_name = ai.ae_title.str() + "@" + ai.host + ":" + std::to_string(ai.port);
    long long id = ctx_.ledger->transact(
        [&](pqxx::work& w) { return ledger::begin_dispatch(w, uid, s->generation, plan.series, plan.reason, ai_name); });
    if (!send(id, uid, m)) return bus::Decision::Retry;  // counted by send()
    // The state change and its event commit together (transactional outbox): a crash or a
    // bus outage after this line delays the event, never loses it.
    const auto dispatched_at = ctx_.clock->now();
    size_t file_count = ctx_.ledger->transact([&](pqxx::work& w) {
      auto files = ledger::finish_dispatch(w, id, uid, s->generation);
      events::v1::DispatchDone done;
      done.set_study_instance_uid(uid);
      done.set_accession_number(s->accession_number);
      done.set_patient_id(s->patient_id);
      for (const auto& x : plan.series) done.add_series_instance_uids(x);
      for (const auto& f : files) done.add_file_paths(f);
      done.set_priority(static_cast<common::v1::Priority>(s->priority));
      done.set_ai_node(ai_name);
      done.set_reason(plan.reason);
      done.mutable_dispatched_at()->set_seconds(
          std::chrono::duration_cast<std::chrono::seconds>(dispatched_at.time_since_epoch()).count());
      ledger::enqueue_event(w, ctx_.service, runtime::subjects::kDispatchDone,
                            "dispatch." + uid + "." + std::to_string(s->generation), done.SerializeAsString());
      return files.size();
    });
    relay_->notify();
    ctx_.metrics->counter("pacspull_dispatcher_dispatches_total", "dispatch outcomes", {{"outcome", "ok"}}).Increment();
    spdlog::info("dispatcher: study {} sent to {}: {} ({} files)", uid, ai_name, plan.reason, file_count);
    return bus::Decision::Ack;
  } catch (const ledger::LedgerError& e) {
    spdlog::warn("dispatcher: study {}: {}", uid, e.what());
    return bus::Decision::Retry;
  }
}

bool DispatcherApp::send(long long dispatch_id, const std::string& study_uid, bus::Message& m) {
  auto todo = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::unsent_instances(w, dispatch_id); });
  const auto& cfg = ctx_.config;
  for (size_t i = 0; i < todo.size(); i += kChunk) {
    std::vector<std::filesystem::path> files;
    std::map<std::string, std::string> sop_of;
    for (size_t j = i; j < std::min(todo.size(), i + kChunk); ++j) {
      files.emplace_back(todo[j].path);
      sop_of[todo[j].path] = todo[j].sop_uid;
    }
    // Each instance is recorded as soon as the AI node confirmed it: a crash re-sends at most
    // the one in flight. What could not be recorded at once (ledger hiccup) is recorded after.
    std::vector<std::string> sent, unrecorded;
    auto record = [&](const std::filesystem::path& f) {
      const std::string& sop = sop_of[f.string()];
      sent.push_back(sop);
      try {
        ctx_.ledger->transact([&](pqxx::work& w) { ledger::mark_sent(w, dispatch_id, {sop}); });
      } catch (const std::exception&) {
        unrecorded.push_back(sop);
      }
    };
    dicom::StoreResult r = dicom::store(scu_options(cfg), peer_of(cfg.ai_node), files, record);
    if (!unrecorded.empty())
      ctx_.ledger->transact([&](pqxx::work& w) { ledger::mark_sent(w, dispatch_id, unrecorded); });
    ctx_.metrics->counter("pacspull_dispatcher_instances_sent_total", "instances sent to the AI node")
        .Increment(static_cast<double>(sent.size()));
    m.in_progress();
    if (r.error || !r.failures.empty()) {
      std::string why = r.error ? r.error->message : r.failures.front().second;
      spdlog::warn("dispatcher: AI node refused {} of {} instances of {}: {}", files.size() - sent.size(),
                   files.size(), study_uid, why);
      ctx_.ledger->transact([&](pqxx::work& w) { ledger::record_dispatch_failure(w, dispatch_id, study_uid, rules::Text::from_utf8(why)); });
      // Permanent: the AI node refuses us as configured (AE title, no common context);
      // retried all the same, but an operator must act.
      const bool permanent = r.error && r.error->cls == dicom::ErrorClass::Permanent;
      ctx_.metrics
          ->counter("pacspull_dispatcher_dispatches_total", "dispatch outcomes",
                    {{"outcome", permanent ? "permanent" : "retryable"}})
          .Increment();
      return false;
    }
  }
  return true;
}

grpc::Status DispatcherApp::ListDispatches(grpc::ServerContext*, const dispatcher::v1::ListDispatchesRequest* req,
                                           dispatcher::v1::ListDispatchesResponse* resp) {
  try {
    auto rows = ctx_.ledger->transact(
        [&](pqxx::work& w) { return ledger::list_dispatches(w, req->study_instance_uid(), req->limit()); });
    for (const auto& d : rows) {
      auto* p = resp->add_dispatches();
      p->set_id(d.id);
      p->set_study_instance_uid(d.study_uid);
      for (const auto& s : d.series_uids) p->add_series_instance_uids(s);
      p->set_status(d.status);
      p->set_instances(d.instances);
      p->set_reason(d.reason);
      to_proto(d.at, p->mutable_at());
    }
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

}  // namespace pacspull::services
