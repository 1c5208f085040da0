#include "receiver_app.hpp"

#include <spdlog/spdlog.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <tuple>

#include "instance_row.hpp"
#include "pacspull/ledger/fleet_store.hpp"
#include "pacspull/ledger/receiver_store.hpp"
#include "pacspull/ledger/storage_store.hpp"
#include "pacspull/pipeline/storage.hpp"
#include "pacspull/rpc/access.hpp"
#include "pacspull/rpc/server.hpp"

namespace pacspull::services {
namespace {

constexpr auto kStorageCheckEvery = std::chrono::seconds(1);
constexpr int kSweepEveryChecks = 5;    // the deletion sweep runs every 5 s
constexpr int kSweepBatch = 200;        // settled studies looked at per sweep
constexpr long kTmpfsMagic = 0x01021994;
constexpr auto kStatusReportEvery = std::chrono::seconds(5);  // the mover counts reports of the last 30 s
constexpr auto kLongKeepOnTmpfs = std::chrono::hours(1);

core::Seconds seconds(config::Millis m) { return std::chrono::duration_cast<core::Seconds>(m); }

// Images of a study the finder (or a manual pull) recorded are solicited; a study row the
// receiver itself created for images nobody asked for is marked unsolicited (receiver_store).
constexpr const char* kStudySolicited = "SELECT NOT unsolicited FROM studies WHERE study_uid = $1";
constexpr size_t kSolicitedCacheMax = 100000;  // study UIDs known solicited; cleared when full

// Rejections by reason, exported from the DICOM adapter's counters (issue 11).
const char* const kRejectReasons[] = {"calling_ae", "address", "called_ae", "busy", "tls", "other"};

dicom::TlsOptions tls_options(const config::DicomTls& t) {
  return dicom::TlsOptions{t.enabled, t.certificate, t.private_key, t.ca_certificates, t.verify_peer};
}

}  // namespace

ReceiverApp::ReceiverApp(runtime::Context& ctx) : ctx_(ctx) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  instance_id_ = std::string(host) + ":" + std::to_string(getpid());
}

void ReceiverApp::run() {
  const auto& cfg = ctx_.config;
  std::filesystem::create_directories(cfg.local.storage_root);
  dicom::StoreScp::Options o;
  o.ae_title = cfg.local.receiver_ae_title;
  o.port = cfg.receiver.dicom_port;
  o.storage_root = cfg.local.storage_root;
  o.callers = config::caller_policy(cfg);
  o.tls = tls_options(cfg.receiver.tls);
  if (cfg.receiver.accept_unsolicited) {
    spdlog::warn("receiver: accept_unsolicited: images of studies nobody asked for are stored and go on to the AI");
  } else {
    o.admit = [this](const core::AttributeMap& a, const core::AeTitle& calling, const std::string& peer) {
      return admit(a, calling, peer);
    };
  }
  o.acse_timeout = std::chrono::duration_cast<std::chrono::seconds>(cfg.local.acse_timeout);
  o.dimse_timeout = std::chrono::duration_cast<std::chrono::seconds>(cfg.local.dimse_timeout);
  o.max_associations = static_cast<size_t>(cfg.receiver.max_associations);
  o.stale_temp_age = seconds(cfg.receiver.stale_temp_age);
  {
    // Where the time of one C-STORE goes, live (bench/README.md has the analysis): the
    // stages in order; the sink is the ledger's group commit.
    const prometheus::Histogram::BucketBoundaries buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                          0.01,   0.025,   0.05,   0.1,   0.25,   1,     5};
    auto stage = [&](const char* name) {
      return &ctx_.metrics->histogram("pacspull_receiver_stage_seconds",
                                      "time of each stage of a written C-STORE: receive, sync, place, dir_sync, commit, respond",
                                      buckets, {{"stage", name}});
    };
    auto* receive = stage("receive");
    auto* sync = stage("sync");
    auto* place = stage("place");
    auto* dir_sync = stage("dir_sync");
    auto* commit = stage("commit");
    auto* respond = stage("respond");
    o.on_timed = [=](const dicom::StoreScp::StageTimes& t) {
      auto seconds_of = [](std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); };
      receive->Observe(seconds_of(t.receive));
      sync->Observe(seconds_of(t.sync));
      place->Observe(seconds_of(t.place));
      dir_sync->Observe(seconds_of(t.dir_sync));
      commit->Observe(seconds_of(t.sink));
      respond->Observe(seconds_of(t.respond));
    };
  }
  warn_if_tmpfs();
  scp_ = std::make_unique<dicom::StoreScp>(o, [this](const dicom::StoreScp::Stored& s) { return on_stored(s); });
  try {
    dicom_port_ = scp_->start();
  } catch (const std::exception& e) {
    throw runtime::StartupError("receiver: cannot listen for DICOM on port " + std::to_string(o.port) + ": " +
                                    e.what(),
                                runtime::kExitDicomBind);
  }
  for (const char* reason : kRejectReasons)  // at 0, like the store failures
    ctx_.metrics->counter("pacspull_receiver_associations_rejected_total",
                          "associations rejected, by reason (calling_ae, address: not an allowed caller)",
                          {{"reason", reason}});
  for (const char* reason : {"disk", "parse", "ledger", "refused", "unsolicited"})  // at 0 (deploy/grafana/README.md)
    ctx_.metrics->counter("pacspull_receiver_store_failures_total", "C-STOREs answered with a failure status",
                          {{"reason", reason}});
  ctx_.metrics->counter("pacspull_receiver_associations_total", "associations accepted");
  ctx_.metrics->counter("pacspull_receiver_status_report_failures_total",
                        "status reports (store refusing, free bytes) the ledger did not take");
  ctx_.metrics->counter("pacspull_receiver_dicom_failures_total", "C-STOREs answered with any failure status");
  rpc::Server server(ctx_.ports.grpc_port, {this});
  spdlog::info("receiver {}: AE {} on DICOM port {}, storing under {}, gRPC :{}", instance_id_, o.ae_title.str(),
               dicom_port_, o.storage_root.string(), server.port());
  // The DICOM adapter counts what it answered; export the growth every second.
  dicom::StoreScp::Counters last{};
  bool refusing = check_storage(false);
  server.set_serving(!refusing);
  for (int tick = 1; !ctx_.stop->wait_for(kStorageCheckEvery); ++tick) {
    if (bool now_refusing = check_storage(refusing); now_refusing != refusing) {
      refusing = now_refusing;
      server.set_serving(!refusing);
    }
    if (tick % kSweepEveryChecks == 0) sweep_store();
    auto c = scp_->counters();
    export_scp_counters(c, last);
    last = c;
  }
  // SIGTERM: readiness off first so a balancer stops sending, then let work in flight finish.
  server.set_serving(false);
  report_status(refusing, 0, true);
  const size_t left = scp_->drain(std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.config.receiver.drain_grace));
  spdlog::info("receiver {}: drained ({} associations aborted at the end of the grace period)", instance_id_, left);
}

void ReceiverApp::export_scp_counters(const dicom::StoreScp::Counters& c, const dicom::StoreScp::Counters& last) {
  auto failures = [&](const char* reason, uint64_t now, uint64_t before) {
    if (now > before)
      ctx_.metrics
          ->counter("pacspull_receiver_store_failures_total", "C-STOREs answered with a failure status",
                    {{"reason", reason}})
          .Increment(static_cast<double>(now - before));
  };
  // The adapter logged each one where it happened; "ledger" is counted in on_stored.
  failures("refused", c.refused, last.refused);
  failures("disk", c.disk_failures, last.disk_failures);
  failures("parse", c.parse_failures, last.parse_failures);
  failures("unsolicited", c.not_admitted, last.not_admitted);  // refused 0x0124, logged by the adapter
  if (c.associations > last.associations)
    ctx_.metrics->counter("pacspull_receiver_associations_total", "associations accepted")
        .Increment(static_cast<double>(c.associations - last.associations));
  if (c.failed > last.failed)
    ctx_.metrics->counter("pacspull_receiver_dicom_failures_total", "C-STOREs answered with any failure status")
        .Increment(static_cast<double>(c.failed - last.failed));
  // Each rejection was logged by the adapter with the calling AE and the peer address.
  const uint64_t named = c.rejected_calling_ae + c.rejected_address + c.rejected_called_ae + c.rejected_busy + c.rejected_tls;
  const uint64_t named_before =
      last.rejected_calling_ae + last.rejected_address + last.rejected_called_ae + last.rejected_busy + last.rejected_tls;
  const std::pair<const char*, uint64_t> rejected[] = {
      {"calling_ae", c.rejected_calling_ae - last.rejected_calling_ae},
      {"address", c.rejected_address - last.rejected_address},
      {"called_ae", c.rejected_called_ae - last.rejected_called_ae},
      {"busy", c.rejected_busy - last.rejected_busy},
      {"tls", c.rejected_tls - last.rejected_tls},
      {"other", (c.rejected - named) - (last.rejected - named_before)}};
  for (const auto& [reason, n] : rejected)
    if (n > 0)
      ctx_.metrics
          ->counter("pacspull_receiver_associations_rejected_total",
                    "associations rejected, by reason (calling_ae, address: not an allowed caller)",
                    {{"reason", reason}})
          .Increment(static_cast<double>(n));
}

void ReceiverApp::warn_if_tmpfs() {
  const auto& cfg = ctx_.config;
  struct statfs fs {};
  if (::statfs(cfg.local.storage_root.c_str(), &fs) != 0 || static_cast<long>(fs.f_type) != kTmpfsMagic) return;
  spdlog::info("receiver: storage_root {} is a tmpfs (RAM): deletion after hand-off keeps it small",
               cfg.local.storage_root.string());
  if (cfg.receiver.keep_after_dispatch > kLongKeepOnTmpfs || cfg.receiver.retention > std::chrono::hours(24))
    spdlog::warn("receiver: storage_root is a tmpfs but keep_after_dispatch is {} s and retention {} s: the store "
                 "holds studies in memory that long; the storage cap refuses new images when it fills",
                 seconds(cfg.receiver.keep_after_dispatch).count(), seconds(cfg.receiver.retention).count());
}

bool ReceiverApp::check_storage(bool refusing) {
  const auto& rc = ctx_.config.receiver;
  struct statvfs vfs {};
  if (::statvfs(ctx_.config.local.storage_root.c_str(), &vfs) != 0) {
    spdlog::error("receiver: cannot read free space of {}: {}", ctx_.config.local.storage_root.string(),
                  std::strerror(errno));
    ctx_.metrics->counter("pacspull_receiver_store_check_failures_total", "failed statvfs of the storage root")
        .Increment();
    return refusing;
  }
  pipeline::StoreUsage usage{static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize,
                             static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize};
  ctx_.metrics->gauge("pacspull_receiver_store_free_bytes", "bytes free for the receiver in the storage root's filesystem")
      .Set(static_cast<double>(usage.free_bytes));
  ctx_.metrics->gauge("pacspull_receiver_store_capacity_bytes", "size of the storage root's filesystem")
      .Set(static_cast<double>(usage.capacity_bytes));
  const pipeline::CapDecision d =
      pipeline::storage_cap(refusing, usage, rc.storage_high_watermark, rc.storage_low_watermark);
  if (d.changed) {
    if (d.refusing) spdlog::error("receiver {}: store {}", instance_id_, d.reason);
    else spdlog::warn("receiver {}: store {}", instance_id_, d.reason);
  }
  ctx_.metrics
      ->gauge("pacspull_receiver_store_refusing", "1 while the store is over its high watermark (C-STOREs get 0xA700)")
      .Set(d.refusing ? 1 : 0);
  scp_->set_refusing(d.refusing);
  refusing_.store(d.refusing);
  report_status(d.refusing, usage.free_bytes);
  return d.refusing;
}

void ReceiverApp::report_status(bool refusing, uint64_t free_bytes, bool stopping) {
  const core::Time now = ctx_.clock->now();
  if (!stopping && reported_refusing_ == refusing && now - reported_at_ < kStatusReportEvery) return;
  try {
    if (!sweeper_) sweeper_ = ctx_.open_ledger();
    sweeper_->transact([&](pqxx::work& w) {
      if (stopping) ledger::forget_receiver(w, instance_id_);
      else ledger::report_receiver(w, instance_id_, refusing, free_bytes, now);
    });
    reported_refusing_ = refusing;
    reported_at_ = now;
  } catch (const std::exception& e) {
    // The mover then goes on moving: the C-STOREs are refused (0xA700) and retried.
    spdlog::error("receiver {}: cannot report its store status to the ledger: {}", instance_id_,
                  rules::Text::from_utf8(e.what()).str());
    ctx_.metrics
        ->counter("pacspull_receiver_status_report_failures_total",
                  "status reports (store refusing, free bytes) the ledger did not take")
        .Increment();
    sweeper_.reset();
  }
}

void ReceiverApp::sweep_store() {
  const auto& rc = ctx_.config.receiver;
  const pipeline::RetentionPolicy policy{seconds(rc.keep_after_dispatch), seconds(rc.retention)};
  const core::Time now = ctx_.clock->now();
  const std::filesystem::path root = ctx_.config.local.storage_root;
  try {
    if (!sweeper_) sweeper_ = ctx_.open_ledger();
    auto candidates = sweeper_->transact(
        [&](pqxx::work& w) { return ledger::settled_studies_with_files(w, policy, now, kSweepBatch); });
    for (const auto& c : candidates) {
      if (pipeline::deletion_due(c.study, policy, now).action != pipeline::DeleteAction::Delete) continue;
      std::set<std::filesystem::path> dirs;
      auto remove = [&](const std::string& path) -> std::string {
        const std::filesystem::path p(path);
        if (::unlink(p.c_str()) != 0 && errno != ENOENT) return "unlink " + path + ": " + std::strerror(errno);
        dirs.insert(p.parent_path());
        return {};
      };
      try {
        ledger::DeletedStudy d = sweeper_->transact([&](pqxx::work& w) {
          dirs.clear();
          return ledger::delete_study_files(w, c.study_uid, policy, now, remove);
        });
        if (!d.deleted) continue;  // no longer due: reopened or a dispatch began meanwhile
        // Empty series and study directories go too (rmdir fails on a non-empty one: a
        // replica placing a new instance there keeps it).
        for (const auto& dir : dirs) {
          for (std::filesystem::path p = dir; p.has_parent_path() && p != root && p.string().size() > root.string().size();
               p = p.parent_path()) {
            if (p.filename() == ".conflicts" || ::rmdir(p.c_str()) != 0) break;
          }
        }
        ctx_.metrics->counter("pacspull_receiver_studies_deleted_total", "studies whose files left the store").Increment();
        ctx_.metrics->counter("pacspull_receiver_files_deleted_total", "files deleted after hand-off or retention")
            .Increment(static_cast<double>(d.files));
        ctx_.metrics->counter("pacspull_receiver_bytes_deleted_total", "bytes deleted after hand-off or retention")
            .Increment(static_cast<double>(d.bytes));
        spdlog::info("receiver: study {}: {} files ({} bytes) deleted from the store ({})", c.study_uid, d.files,
                     d.bytes, d.reason);
      } catch (const std::exception& e) {
        spdlog::error("receiver: cannot delete the files of study {}: {}; next sweep retries", c.study_uid,
                      rules::Text::from_utf8(e.what()).str());
        ctx_.metrics->counter("pacspull_receiver_delete_failures_total", "studies whose deletion failed (retried)")
            .Increment();
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("receiver: store sweep failed: {}; retrying in a few seconds", rules::Text::from_utf8(e.what()).str());
    ctx_.metrics->counter("pacspull_receiver_delete_failures_total", "studies whose deletion failed (retried)")
        .Increment();
    sweeper_.reset();
  }
}

void ReceiverApp::record(Recording& r) {
  std::unique_lock lock(commit_mu_);
  commit_queue_.push_back(&r);
  while (!r.done) {
    if (committing_) {
      commit_cv_.wait(lock);  // the running commit, then maybe ours; woken when a commit ends
      continue;
    }
    committing_ = true;
    std::vector<Recording*> batch;
    batch.swap(commit_queue_);
    lock.unlock();
    commit_batch(batch);
    lock.lock();
    for (Recording* b : batch) b->done = true;
    committing_ = false;
    commit_cv_.notify_all();
  }
}

void ReceiverApp::commit_batch(std::vector<Recording*>& batch) {
  // One transaction for the batch (BEGIN, one statement, COMMIT: ledger::record_batch),
  // sorted by study and SOP UID there; a failed batch is retried row by row.
  std::vector<ledger::BatchRow> rows;
  rows.reserve(batch.size());
  for (const Recording* r : batch) {
    ledger::BatchRow row{r->row, std::nullopt};
    if (r->stored->arrival == dicom::StoreScp::Arrival::Conflict)
      row.conflict_path = rules::Text::from_utf8(r->stored->conflict_path.string());
    rows.push_back(std::move(row));
  }
  // Its file left the store after hand-off and this copy landed while the deletion ran.
  auto check = [&batch](const ledger::InstanceRow& row, const ledger::RecordedInstance& recorded) {
    if (!recorded.revived) return;
    for (const Recording* r : batch)
      if (r->row == &row && !std::filesystem::exists(r->stored->path))
        throw std::runtime_error("file " + r->stored->path.string() + " was deleted while it arrived again");
  };
  try {
    if (!committer_) committer_ = ctx_.open_ledger();
  } catch (const std::exception& e) {
    for (Recording* r : batch) r->error = e.what();
    return;
  }
  std::vector<ledger::BatchOutcome> out = ledger::record_batch(*committer_, rows, check);
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i]->result = out[i].recorded;
    batch[i]->error = out[i].error;
  }
}

dicom::StoreScp::Admission ReceiverApp::admit(const core::AttributeMap& a, const core::AeTitle& calling,
                                                const std::string& peer) {
  const std::string study = rules::Text::ascii(a.get("StudyInstanceUID").value_or("")).str();
  std::lock_guard lock(admit_mu_);
  if (solicited_.count(study)) return {};
  if (!admitter_) admitter_ = ctx_.open_ledger();
  std::optional<bool> solicited;
  try {
    solicited = admitter_->transact([&](pqxx::work& w) -> std::optional<bool> {
      pqxx::result r = w.exec_params(kStudySolicited, study);
      if (r.empty()) return std::nullopt;
      return r[0][0].as<bool>();
    });
  } catch (...) {
    admitter_.reset();  // reconnect next time; the adapter answers 0xA700 and the sender retries
    throw;
  }
  if (solicited.value_or(false)) {
    if (solicited_.size() >= kSolicitedCacheMax) solicited_.clear();
    solicited_.insert(study);
    return {};
  }
  return {false, std::string(solicited ? "study recorded as unsolicited" : "no pull asked for this study") +
                     " (receiver.accept_unsolicited is off)"};
}

dicom::StoreScp::SinkResult ReceiverApp::on_stored(const dicom::StoreScp::Stored& s) {
  ledger::InstanceRow row = services::instance_row(s, instance_id_);
  Recording rec;
  rec.row = &row;
  rec.stored = &s;
  record(rec);
  if (!rec.error.empty()) {
    spdlog::error("receiver: cannot record {} in the ledger ({}); answering out-of-resources so the sender retries",
                  row.sop_uid.str(), rules::Text::from_utf8(rec.error).str());
    ctx_.metrics
        ->counter("pacspull_receiver_store_failures_total", "C-STOREs answered with a failure status",
                  {{"reason", "ledger"}})
        .Increment();
    return dicom::StoreScp::SinkResult::RetryLater;
  }
  const ledger::RecordedInstance& r = rec.result;
  if (r.file_gone) {
    spdlog::warn("receiver: {} arrived again while its study's files were being deleted; answering "
                 "out-of-resources so the sender sends it again",
                 row.sop_uid.str());
    ctx_.metrics
        ->counter("pacspull_receiver_store_failures_total", "C-STOREs answered with a failure status",
                  {{"reason", "disk"}})
        .Increment();
    return dicom::StoreScp::SinkResult::RetryLater;
  }
  ctx_.metrics->counter("pacspull_receiver_instances_stored_total", "instances stored and recorded").Increment();
  ctx_.metrics->counter("pacspull_receiver_bytes_total", "bytes stored").Increment(static_cast<double>(s.bytes));
  if (s.arrival == dicom::StoreScp::Arrival::Conflict)
    ctx_.metrics
        ->counter("pacspull_receiver_conflicts_total",
                  "instances received again with different content (kept aside, never dispatched)")
        .Increment();
  else if (!r.new_instance)
    ctx_.metrics->counter("pacspull_receiver_duplicates_total", "instances received again").Increment();
  if (r.new_series)
    spdlog::info("receiver: new series {} of study {} ({}) from {}", row.series_uid.str(), row.study_uid.str(),
                 row.modality.str(), row.calling_ae.str());
  return dicom::StoreScp::SinkResult::Ok;
}

grpc::Status ReceiverApp::GetStatus(grpc::ServerContext* sc, const receiver::v1::GetStatusRequest*,
                                    receiver::v1::GetStatusResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Read, "receiver.GetStatus"); !denied.ok()) return denied;
  auto c = scp_ ? scp_->counters() : dicom::StoreScp::Counters{};
  resp->set_ae_title(ctx_.config.local.receiver_ae_title.str());
  resp->set_dicom_port(dicom_port_);
  resp->set_instances_stored(c.stored);
  resp->set_instances_failed(c.failed);
  resp->set_associations(c.associations);
  resp->set_storage_root(ctx_.config.local.storage_root.string());
  resp->set_instance_id(instance_id_);
  return grpc::Status::OK;
}

}  // namespace pacspull::services
