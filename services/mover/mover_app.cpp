#include "mover_app.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "dicom_options.hpp"
#include "messages.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/rpc/server.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::services {

MoverApp::MoverApp(runtime::Context& ctx) : ctx_(ctx), exec_ledger_(ctx.open_ledger()) {}

void MoverApp::run() {
  int reset = ctx_.ledger->transact([](pqxx::work& w) { return ledger::reset_running_jobs(w); });
  if (reset > 0) spdlog::warn("mover: {} moves were running at the last stop; they run again", reset);
  for (const char* outcome : {"ok", "retryable", "permanent"})  // at 0, so "all failing" alerts can fire
    ctx_.metrics->counter("pacspull_mover_moves_total", "C-MOVE attempts by outcome", {{"outcome", outcome}});
  rpc::Server server(ctx_.ports.grpc_port, {this});
  bus::Worker worker(*ctx_.bus, runtime::mover_consumer(), [this](bus::Message& m) { return on_request(m); });
  worker.start();
  std::thread executor([this] { execute_loop(); });
  spdlog::info("mover: gRPC on :{}, moving to {}", server.port(), ctx_.config.local.receiver_ae_title.str());
  while (!ctx_.stop->wait_for(std::chrono::seconds(3600))) {
  }
  wake();
  worker.stop();
  executor.join();
}

bus::Decision MoverApp::on_request(bus::Message& m) {
  events::v1::MoveRequest req;
  if (auto parked = parse_or_park(ctx_, m, req, [&] { return !req.study_instance_uid().empty(); })) return *parked;
  ledger::MoveWork work{req.study_instance_uid(), req.pacs(), req.reason(), req.series_instance_uid(),
                        req.generation(), static_cast<int>(req.priority()), from_proto(req.exam_time())};
  try {
    bool fresh = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::enqueue_move(w, work, ctx_.clock->now()); });
    if (fresh) wake();
    return bus::Decision::Ack;
  } catch (const ledger::LedgerError& e) {
    spdlog::warn("mover: cannot queue move of {}: {}", work.study_uid, e.what());
    return e.retryable() ? bus::Decision::Retry : bus::Decision::Park;
  }
}

void MoverApp::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void MoverApp::execute_loop() {
  while (!ctx_.stop->stopped()) {
    std::optional<ledger::MoveJobRow> job;
    std::optional<core::Time> due;
    try {
      job = exec_ledger_->transact([&](pqxx::work& w) { return ledger::claim_next_job(w, ctx_.clock->now()); });
      if (!job) due = exec_ledger_->transact([&](pqxx::work& w) { return ledger::next_due(w); });
    } catch (const std::exception& e) {
      spdlog::error("mover: ledger: {}", e.what());
    }
    if (job) {
      execute(*job);
      continue;
    }
    // Nothing due: sleep until the next retry is due, a new job arrives, or a stop.
    auto wait = std::chrono::milliseconds(2000);
    if (due) {
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*due - ctx_.clock->now());
      wait = std::clamp(until, std::chrono::milliseconds(50), wait);
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [this] { return woken_ || ctx_.stop->stopped(); });
    woken_ = false;
  }
}

void MoverApp::execute(const ledger::MoveJobRow& job) {
  const auto& cfg = ctx_.config;
  ledger::MoveAttempt attempt;
  if (job.pacs.port == 0) {
    attempt.error = rules::Text::from_utf8("PACS '" + job.work.pacs + "' is not configured");
  } else {
    spdlog::info("mover: moving study {} from {} (attempt {}, priority {})", job.work.study_uid, job.work.pacs,
                 job.attempts, job.work.priority);
    dicom::Peer peer{core::AeTitle(job.pacs.ae_title), job.pacs.host, static_cast<uint16_t>(job.pacs.port)};
    std::optional<core::SeriesUid> series;
    if (!job.work.series_uid.empty()) series = core::SeriesUid(job.work.series_uid);
    dicom::MoveResult r = dicom::move(scu_options(cfg), peer, cfg.local.receiver_ae_title,
                                      core::StudyUid(job.work.study_uid), series);
    attempt.success = r.ok;
    attempt.completed = r.completed;
    attempt.failed = r.failed;
    attempt.warning = r.warning;
    attempt.elapsed = r.elapsed;
    if (!r.ok)
      attempt.error = rules::Text::from_utf8(r.error ? r.error->message
                                                     : fmt::format("C-MOVE status 0x{:04x}, ", r.status) +
                                                           std::to_string(r.failed) + " sub-operations failed");
    ctx_.metrics
        ->histogram("pacspull_mover_move_seconds", "C-MOVE duration",
                    prometheus::Histogram::BucketBoundaries{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600})
        .Observe(static_cast<double>(r.elapsed.count()) / 1000.0);
  }
  pipeline::RetryPolicy policy{cfg.mover.max_attempts,
                               std::chrono::duration_cast<core::Seconds>(cfg.mover.retry_backoff),
                               std::chrono::duration_cast<core::Seconds>(cfg.mover.retry_backoff) * 10};
  pipeline::JobDecision d = pipeline::after_attempt(policy, job.attempts, attempt.success, attempt.error.str(),
                                                    ctx_.clock->now());
  const char* outcome = d.next == pipeline::JobNext::Done    ? "ok"
                        : d.next == pipeline::JobNext::Retry ? "retryable"
                                                             : "permanent";
  ctx_.metrics->counter("pacspull_mover_moves_total", "C-MOVE attempts by outcome", {{"outcome", outcome}}).Increment();
  if (d.next == pipeline::JobNext::Done)
    spdlog::info("mover: move took {:.1f} s from PACS {}: {} instances", attempt.elapsed.count() / 1000.0,
                 job.work.pacs, attempt.completed);
  else
    spdlog::warn("mover: study {}: {}", job.work.study_uid, d.reason);
  try {
    exec_ledger_->transact([&](pqxx::work& w) { ledger::finish_job(w, job, attempt, d, ctx_.clock->now()); });
  } catch (const std::exception& e) {
    // The job stays `running`; the next start-up runs it again.
    spdlog::error("mover: cannot record the outcome of job {}: {}", job.id, e.what());
  }
}

grpc::Status MoverApp::ListJobs(grpc::ServerContext*, const mover::v1::ListJobsRequest* req,
                                mover::v1::ListJobsResponse* resp) {
  try {
    auto jobs = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::list_jobs(w, req->status(), req->limit()); });
    for (const auto& j : jobs) {
      auto* p = resp->add_jobs();
      p->set_id(j.id);
      p->set_study_instance_uid(j.work.study_uid);
      p->set_pacs(j.work.pacs);
      p->set_generation(j.work.generation);
      p->set_status(j.status);
      p->set_attempts(j.attempts);
      p->set_priority(j.work.priority);
      p->set_last_error(j.last_error);
      p->set_completed(j.completed);
      p->set_failed(j.failed);
      to_proto(j.not_before, p->mutable_not_before());
    }
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

grpc::Status MoverApp::RetryJob(grpc::ServerContext*, const mover::v1::RetryJobRequest* req,
                                mover::v1::RetryJobResponse* resp) {
  try {
    resp->set_requeued(ctx_.ledger->transact([&](pqxx::work& w) { return ledger::retry_job(w, req->id(), ctx_.clock->now()); }));
    if (resp->requeued()) wake();
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

}  // namespace pacspull::services
