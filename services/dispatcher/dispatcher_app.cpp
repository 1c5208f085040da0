#include "dispatcher_app.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "dicom_options.hpp"
#include "messages.hpp"
#include "pacspull/deid/copy.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/outbox.hpp"
#include "pacspull/pipeline/retry.hpp"
#include "pacspull/ledger/audit_store.hpp"
#include "pacspull/rpc/access.hpp"
#include "pacspull/runtime/grpc_security.hpp"
#include "pacspull/rpc/server.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::services {
namespace {

constexpr size_t kChunk = 32;                        // instances per association
constexpr std::chrono::seconds kLease{120};          // a claimed dispatch, renewed per chunk
constexpr std::chrono::milliseconds kIdlePoll{1000};  // other instances' work, retries coming due
// A target that refuses or fails: again after 5 s, doubling, at most every 5 min (not every
// 5 s forever); every failure is an event `why` shows and a metric.
const pipeline::RetryPolicy kRetry{0, core::Seconds(5), core::Seconds(300)};

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

std::optional<deid::Options> deid_options(const config::SiteConfig& cfg, const config::SiteConfig::Target& t) {
  if (!t.deidentify) return std::nullopt;
  deid::Options o;
  o.retain_uids = t.retain_uids;
  o.retain_dates = t.retain_dates;
  o.clean_descriptors = t.clean_descriptors;
  o.key = t.deid_key.empty() ? cfg.site : t.deid_key;
  return o;
}

std::string describe(const config::SiteConfig::Target& t) {
  if (t.kind == "bus") return t.name + " (bus)";
  return t.name + " " + t.node.ae_title.str() + "@" + t.node.host + ":" + std::to_string(t.node.port);
}

std::string this_host() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

DispatcherApp::DispatcherApp(runtime::Context& ctx)
    : ctx_(ctx), holder_(this_host() + ":" + std::to_string(getpid())) {}

void DispatcherApp::run() {
  for (const auto& t : ctx_.config.targets) {
    for (const char* outcome : {"ok", "retryable", "permanent"})  // at 0, so "all failing" alerts can fire
      ctx_.metrics->counter("pacspull_dispatcher_dispatches_total", "dispatch outcomes",
                            {{"outcome", outcome}, {"target", t.name}});
    ctx_.metrics->counter("pacspull_dispatcher_instances_sent_total", "instances sent to the AI node",
                          {{"target", t.name}});
  }
  rpc::Server server(ctx_.ports.grpc_port, {this});
  relay_ = std::make_unique<OutboxRelay>(*ctx_.ledger, *ctx_.bus, ctx_.metrics.get(),
                                         OutboxRelay::Options{ctx_.service, 100, std::chrono::milliseconds(1000), {}});
  relay_->start();  // events committed before a crash are published now
  // Leases of an earlier process on this host are free at once (it is gone: we are its
  // restart); other hosts' leases run out after kLease.
  int released = ctx_.ledger->transact(
      [&](pqxx::work& w) { return ledger::release_stale_claims(w, this_host() + ":", holder_); });
  if (released > 0) spdlog::info("dispatcher: resuming {} dispatches an earlier process had claimed", released);
  std::vector<std::thread> executors;
  for (const auto& t : ctx_.config.targets) {
    spdlog::info("dispatcher: target {}: families {}, window {}{}{}", describe(t),
                 t.families.empty() ? std::string("all") : fmt::format("{}", fmt::join(t.families, ",")), t.window,
                 t.deidentify ? ", de-identified" : "", t.transfer_syntax.empty() ? "" : ", as " + t.transfer_syntax);
    for (int i = 0; i < t.window; ++i) executors.emplace_back([this, &t] { execute(t); });
  }
  bus::Worker worker(*ctx_.bus, runtime::dispatcher_consumer(), [this](bus::Message& m) { return on_filtered(m); });
  worker.start();
  spdlog::info("dispatcher: gRPC on :{}, {} targets", server.port(), ctx_.config.targets.size());
  while (!ctx_.stop->wait_for(std::chrono::seconds(3600))) {
  }
  worker.stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& e : executors) e.join();
  relay_->stop();
}

bus::Decision DispatcherApp::on_filtered(bus::Message& m) {
  events::v1::StudyReceived msg;
  if (auto parked = parse_or_park(ctx_, m, msg, [&] { return !msg.study_instance_uid().empty(); })) return *parked;
  return on_filtered(msg);
}

bus::Decision DispatcherApp::on_filtered(const events::v1::StudyReceived& msg) {
  const std::string& uid = msg.study_instance_uid();
  try {
    auto s = ctx_.ledger->transact([&](pqxx::work& w) { return ledger::study_to_dispatch(w, uid); });
    const auto state = s ? pipeline::parse_state(s->state) : std::nullopt;
    if (!state || !pipeline::is_legal(pipeline::Transition::Complete, *state) || s->generation != msg.generation() ||
        s->filtered_generation != msg.generation() || s->dispatched_generation >= msg.generation() ||
        !s->queued_targets.empty())
      return bus::Decision::Ack;  // stale, settled or queued already: redelivery changes nothing
    std::vector<rules::SeriesCandidate> candidates;
    for (const auto& v : s->series) candidates.push_back(candidate(ctx_.config.rules, v));
    std::vector<pipeline::DispatchPlan> plans;
    std::vector<ledger::DispatchToQueue> queue;
    std::string not_sent;
    for (const auto& t : ctx_.config.targets) {
      auto before = s->sent_before.find(t.name);
      const ledger::SentBefore none;
      const ledger::SentBefore& sent = before == s->sent_before.end() ? none : before->second;
      auto plan = pipeline::plan_dispatch(ctx_.config.rules, pipeline::candidates_for_target(candidates, t.families),
                                          sent.series, sent.instances);
      if (plan.kind == pipeline::DispatchPlan::Kind::Send)
        queue.push_back({t.name, plan.series, plan.reason});
      else
        not_sent += (not_sent.empty() ? "" : "; ") + t.name + ": " + plan.reason;
      plans.push_back(std::move(plan));
    }
    const pipeline::Settle settle = pipeline::settle_of(plans);
    if (settle != pipeline::Settle::Queue) {
      const auto how = settle == pipeline::Settle::Unsupported ? pipeline::Transition::SettleUnsupported
                                                               : pipeline::Transition::SettleNothingNew;
      const bool settled = ctx_.ledger->transact(
          [&](pqxx::work& w) { return ledger::settle_without_dispatch(w, uid, s->generation, how, not_sent); });
      if (!settled) return bus::Decision::Ack;  // reopened or settled meanwhile: a newer message follows
      spdlog::info("dispatcher: study {}: {}", uid, not_sent);
      ctx_.metrics
          ->counter("pacspull_dispatcher_not_dispatched_total", "study generations settled without a hand-off",
                    {{"state", std::string(pipeline::to_string(pipeline::target_of(how)))}})
          .Increment();
      return bus::Decision::Ack;
    }
    ctx_.ledger->transact([&](pqxx::work& w) {
      ledger::queue_dispatches(w, uid, s->generation, queue);
      if (!not_sent.empty())
        ledger::record_event(w, uid, "", "dispatcher", "dispatch-skipped", rules::Text::from_utf8(not_sent));
    });
    work_.notify_all();
    spdlog::info("dispatcher: study {}: {} dispatches queued (priority {})", uid, queue.size(), s->priority);
    return bus::Decision::Ack;
  } catch (const ledger::LedgerError& e) {
    spdlog::warn("dispatcher: study {}: {}", uid, e.what());
    return bus::Decision::Retry;
  }
}

void DispatcherApp::execute(const Target& t) {
  std::unique_ptr<ledger::Ledger> db;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    std::optional<ledger::ClaimedDispatch> d;
    try {
      if (!db) db = ctx_.open_ledger();
      d = db->transact([&](pqxx::work& w) { return ledger::claim_next_dispatch(w, t.name, holder_, kLease); });
    } catch (const std::exception& e) {
      spdlog::warn("dispatcher: target {}: cannot read the queue: {}", t.name, e.what());
      db.reset();
    }
    if (!d) {
      std::unique_lock lock(mu_);
      work_.wait_for(lock, kIdlePoll, [&] { return stopping_; });
      continue;
    }
    try {
      std::string why;
      if (send(*db, *d, t, why)) {
        finish(*db, *d, t);
        continue;
      }
      const auto delay = pipeline::backoff(kRetry, d->attempts);
      db->transact([&](pqxx::work& w) {
        ledger::defer_dispatch(w, d->id, d->study_uid, rules::Text::from_utf8(t.name + ": " + why),
                               std::chrono::duration_cast<std::chrono::seconds>(delay));
      });
    } catch (const std::exception& e) {
      // The lease runs out and the dispatch is taken up again; what was confirmed is recorded.
      spdlog::warn("dispatcher: dispatch {} of {} to {}: {}", d->id, d->study_uid, t.name, e.what());
      db.reset();
    }
  }
}

bool DispatcherApp::send(ledger::Ledger& db, const ledger::ClaimedDispatch& d, const Target& t, std::string& why) {
  auto todo = db.transact([&](pqxx::work& w) { return ledger::unsent_instances(w, d.id); });
  if (t.kind == "bus") {  // nothing to transfer: the event is the hand-off
    std::vector<std::string> sops;
    for (const auto& i : todo) sops.push_back(i.sop_uid);
    db.transact([&](pqxx::work& w) { ledger::mark_sent(w, d.id, sops); });
    return true;
  }
  const auto& cfg = ctx_.config;
  const auto opts = deid_options(cfg, t);
  const bool copy = opts.has_value() || !t.transfer_syntax.empty();
  const std::filesystem::path out_dir =
      cfg.local.storage_root / ".outgoing" / (t.name + "-" + std::to_string(d.id) + "-" + std::to_string(getpid()));
  for (size_t i = 0; i < todo.size(); i += kChunk) {
    std::vector<std::filesystem::path> files;
    std::map<std::string, std::string> sop_of;  // path sent -> original SOP Instance UID
    std::error_code ec;
    if (copy) std::filesystem::create_directories(out_dir, ec);
    struct Cleanup {
      const std::filesystem::path& dir;
      bool on;
      ~Cleanup() {
        std::error_code e;
        if (on) std::filesystem::remove_all(dir, e);
      }
    } cleanup{out_dir, copy};
    std::map<std::string, std::string> uids;
    std::string pseudonym, patient_id;
    for (size_t j = i; j < std::min(todo.size(), i + kChunk); ++j) {
      std::filesystem::path f = todo[j].path;
      if (copy) {
        const std::filesystem::path out = out_dir / (todo[j].sop_uid + ".dcm");
        deid::CopyResult r = deid::write_copy({f, out, opts, t.name, t.transfer_syntax});
        if (!r.ok) {
          ctx_.metrics
              ->counter("pacspull_dispatcher_copy_failures_total", "copies for a target that failed",
                        {{"target", t.name}})
              .Increment();
          why = "cannot prepare the copy for " + t.name + ": " + r.error;
          spdlog::warn("dispatcher: {}", why);
          return false;
        }
        uids.insert(r.uids.begin(), r.uids.end());
        pseudonym = r.pseudonym;
        patient_id = r.patient_id;
        f = out;
      }
      files.push_back(f);
      sop_of[f.string()] = todo[j].sop_uid;
    }
    // The mapping is in the ledger before the target sees a derived UID: results that come
    // back under it can always be matched.
    if (opts)
      db.transact([&](pqxx::work& w) { ledger::record_deid_map(w, t.name, d.study_uid, uids, patient_id, pseudonym); });
    // Each instance is recorded as soon as the target confirmed it: a crash re-sends at most
    // the one in flight. What could not be recorded at once (ledger hiccup) is recorded after.
    std::vector<std::string> sent, unrecorded;
    auto record = [&](const std::filesystem::path& f) {
      const std::string& sop = sop_of[f.string()];
      sent.push_back(sop);
      try {
        db.transact([&](pqxx::work& w) { ledger::mark_sent(w, d.id, {sop}); });
      } catch (const std::exception&) {
        unrecorded.push_back(sop);
      }
    };
    dicom::StoreResult r = dicom::store(scu_options(cfg), peer_of(t.node), files, record);
    if (!unrecorded.empty()) db.transact([&](pqxx::work& w) { ledger::mark_sent(w, d.id, unrecorded); });
    ctx_.metrics->counter("pacspull_dispatcher_instances_sent_total", "instances sent to the AI node", {{"target", t.name}})
        .Increment(static_cast<double>(sent.size()));
    db.transact([&](pqxx::work& w) { ledger::renew_claim(w, d.id, holder_, kLease); });
    if (r.error || !r.failures.empty()) {
      why = r.error ? r.error->message : r.failures.front().second;
      spdlog::warn("dispatcher: {} refused {} of {} instances of {}: {}", t.name, files.size() - sent.size(),
                   files.size(), d.study_uid, why);
      // Permanent: the target refuses us as configured (AE title, no common context);
      // retried with backoff all the same, but an operator must act.
      const bool permanent = r.error && r.error->cls == dicom::ErrorClass::Permanent;
      ctx_.metrics
          ->counter("pacspull_dispatcher_dispatches_total", "dispatch outcomes",
                    {{"outcome", permanent ? "permanent" : "retryable"}, {"target", t.name}})
          .Increment();
      return false;
    }
  }
  return true;
}

void DispatcherApp::finish(ledger::Ledger& db, const ledger::ClaimedDispatch& d, const Target& t) {
  // The state change and its event commit together (transactional outbox): a crash or a
  // bus outage after this line delays the event, never loses it.
  const auto dispatched_at = ctx_.clock->now();
  const auto opts = deid_options(ctx_.config, t);
  const bool derived_uids = opts && !opts->retain_uids;
  auto uid_for = [&](const std::string& uid) {
    return derived_uids ? deid::derive_uid(opts->key, t.name, uid) : uid;
  };
  ledger::Finished done_ = db.transact([&](pqxx::work& w) {
    auto f = ledger::finish_dispatch(w, d.id, d.study_uid, d.generation);
    events::v1::DispatchDone done;
    done.set_study_instance_uid(uid_for(d.study_uid));
    // PHI on the bus only when the site asks (dispatcher.event_identifiers; services/README.md).
    const bool identifiers = ctx_.config.dispatcher.event_identifiers;
    done.set_accession_number(opts || !identifiers ? "" : d.accession_number);
    done.set_patient_id(opts ? deid::pseudonym(opts->key, t.name, d.patient_id) : identifiers ? d.patient_id : "");
    for (const auto& x : d.series_uids) done.add_series_instance_uids(uid_for(x));
    if (!opts)
      for (const auto& p : f.files) done.add_file_paths(p);
    done.set_priority(static_cast<common::v1::Priority>(d.priority));
    done.set_ai_node(describe(t));
    done.set_reason(d.reason);
    done.set_target(t.name);
    done.set_version(d.version);
    done.set_deidentified(opts.has_value());
    done.mutable_dispatched_at()->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(dispatched_at.time_since_epoch()).count());
    // The single `ai_node` keeps its message id; other targets' ids name the dispatch.
    const std::string msg_id = t.name == "ai_node" ? "dispatch." + d.study_uid + "." + std::to_string(d.generation)
                                                   : "dispatch." + t.name + "." + std::to_string(d.id);
    ledger::enqueue_event(w, ctx_.service, runtime::subjects::kDispatchDone, msg_id, done.SerializeAsString());
    ledger::record_audit(w, {"dispatcher", ledger::audit::kDispatchSent, d.study_uid,  // the audit trail, same transaction
                             runtime::audit_detail({{"target", t.name}, {"dispatch", std::to_string(d.id)},
                                                    {"version", std::to_string(d.version)},
                                                    {"files", std::to_string(f.files.size())},
                                                    {"deidentified", opts ? "yes" : "no"}})});
    return f;
  });
  relay_->notify();
  ctx_.metrics->counter("pacspull_dispatcher_dispatches_total", "dispatch outcomes", {{"outcome", "ok"}, {"target", t.name}})
      .Increment();
  spdlog::info("dispatcher: study {} sent to {} (dispatch {}, version {}): {} ({} files){}", d.study_uid, describe(t),
               d.id, d.version, d.reason, done_.files.size(), done_.study_completed ? "; study completed" : "");
}

grpc::Status DispatcherApp::ListDispatches(grpc::ServerContext* sc, const dispatcher::v1::ListDispatchesRequest* req,
                                           dispatcher::v1::ListDispatchesResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Read, "dispatcher.ListDispatches"); !denied.ok()) return denied;
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
      p->set_target(d.target);
      p->set_version(d.version);
      to_proto(d.at, p->mutable_at());
    }
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

}  // namespace pacspull::services
