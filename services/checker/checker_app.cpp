#include "checker_app.hpp"

#include <spdlog/spdlog.h>

#include "messages.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/timeline.hpp"
#include "pacspull/pipeline/state.hpp"
#include "pacspull/rpc/access.hpp"
#include "pacspull/rpc/server.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::services {

CheckerApp::CheckerApp(runtime::Context& ctx) : ctx_(ctx) {}

void CheckerApp::run() {
  rpc::Server server(ctx_.ports.grpc_port, {this});
  spdlog::info("checker: gRPC on :{}, stable age {} ms, max re-pulls {}", server.port(),
               ctx_.config.checker.stable_age.count(), ctx_.config.checker.max_repulls);
  do {
    try {
      scan_once();
      reconcile_and_report();
    } catch (const std::exception& e) {
      spdlog::error("checker: scan failed: {}", e.what());
      ctx_.metrics->counter("pacspull_checker_scan_failures_total", "scans that failed").Increment();
    }
  } while (!ctx_.stop->wait_for(ctx_.config.checker.scan_interval));
}

ScanSummary CheckerApp::scan_once() {
  std::lock_guard lock(scan_mu_);
  ScanSummary sum;
  pipeline::CompletenessPolicy policy{std::chrono::duration_cast<core::Seconds>(ctx_.config.checker.stable_age),
                                      ctx_.config.checker.max_repulls};
  auto studies = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::pulling_studies(w, ctx_.clock->now()); });
  for (const auto& s : studies) {
    pipeline::CheckDecision d = pipeline::check_completeness(policy, s.input);
    switch (d.action) {
      case pipeline::CheckAction::Wait:
        ++sum.waiting;
        break;
      case pipeline::CheckAction::Received:
      case pipeline::CheckAction::ReceivedShort: {
        bool short_ = d.action == pipeline::CheckAction::ReceivedShort;
        auto work = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::apply_received(w, s, short_, d.reason); });
        if (!work) break;
        ++sum.received;
        spdlog::log(short_ ? spdlog::level::warn : spdlog::level::info, "checker: study {}: {}", s.study_uid, d.reason);
        ctx_.metrics->counter("pacspull_checker_received_total", "studies declared received",
                              {{"complete", short_ ? "short" : "yes"}})
            .Increment();
        publish_received(*work);
        break;
      }
      case pipeline::CheckAction::Repull: {
        auto move = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::apply_repull(w, s, d.reason); });
        if (!move) break;
        ++sum.repulled;
        spdlog::warn("checker: study {}: {}", s.study_uid, d.reason);
        ctx_.metrics->counter("pacspull_checker_repulls_total", "re-pulls requested").Increment();
        // If this publish is lost, the finder's reconciler re-publishes queued studies.
        publish_move(ctx_, *move);
        break;
      }
    }
  }
  return sum;
}

void CheckerApp::publish_received(const ledger::ReceivedWork& w, Publish how) {
  publish_study(ctx_, runtime::subjects::kStudyReceived, "received", w, how);
}

// Re-publishes received studies the filter never recorded, and exports the study
// counts per state (the checker scans the ledger anyway).
void CheckerApp::reconcile_and_report() {
  auto stuck = ctx_.ledger->transact([&](pqxx::work& w) {
    return ledger::stuck_received(w, std::chrono::duration_cast<std::chrono::seconds>(ctx_.config.reconcile_after),
                                  ctx_.clock->now());
  });
  for (const auto& s : stuck) {
    spdlog::warn("checker: study {} received but not filtered; re-publishing", s.study_uid);
    ctx_.metrics->counter("pacspull_reconciler_republished_total", "work re-published by a reconciler").Increment();
    publish_received(s, Publish::Again);
  }
  auto counts = ctx_.ledger->transact([](pqxx::work& w) { return ledger::state_summary(w, ""); });
  std::map<std::string, double> by_state;  // every state at 0: a state nobody is in still has a series
  for (pipeline::StudyState s : pipeline::all_states()) by_state[std::string(pipeline::to_string(s))] = 0;
  for (const auto& c : counts) by_state[c.state] += static_cast<double>(c.count);
  for (const auto& [state, n] : by_state)
    ctx_.metrics->gauge("pacspull_studies", "studies in the ledger by state", {{"state", state}}).Set(n);
  std::map<std::string, double> oldest;
  for (const auto& [state, n] : by_state) oldest[state] = 0;
  for (const auto& [state, secs] : ctx_.ledger->transact([](pqxx::work& w) { return ledger::oldest_per_state(w); }))
    oldest[state] = secs;
  for (const auto& [state, secs] : oldest)
    ctx_.metrics->gauge("pacspull_studies_oldest_seconds", "age of the oldest study in each state", {{"state", state}})
        .Set(secs);
}

grpc::Status CheckerApp::CheckNow(grpc::ServerContext* sc, const checker::v1::CheckNowRequest*,
                                  checker::v1::CheckNowResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Mutate, "checker.CheckNow"); !denied.ok()) return denied;
  try {
    ScanSummary s = scan_once();
    resp->set_received(s.received);
    resp->set_repulled(s.repulled);
    resp->set_waiting(s.waiting);
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

}  // namespace pacspull::services
