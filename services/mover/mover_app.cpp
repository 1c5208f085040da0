#include "mover_app.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "dicom_options.hpp"
#include "instance_row.hpp"
#include "messages.hpp"
#include "pacspull/dicom/get.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/fleet_store.hpp"
#include "pacspull/ledger/pacs_store.hpp"
#include "pacspull/ledger/receiver_store.hpp"
#include "pacspull/pipeline/concurrency.hpp"
#include "pacspull/pipeline/retrieve_plan.hpp"
#include "pacspull/rules/text.hpp"
#include "pacspull/ledger/audit_store.hpp"
#include "pacspull/rpc/access.hpp"
#include "pacspull/runtime/grpc_security.hpp"
#include "pacspull/rpc/server.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::services {

namespace {
// Each executor thread has its own ledger connection; the C-GET sink runs on that thread.
thread_local ledger::Ledger* tl_ledger = nullptr;

// A receiver that has not reported for this long is not counted (it died or stopped).
constexpr auto kReceiverFresh = std::chrono::seconds(30);
// How often the mover looks again while the store is held, and renews its leases.
constexpr auto kHoldRecheck = std::chrono::seconds(1);
constexpr auto kLeaseRenewEvery = ledger::kMoveLease / 3;

// Who claims move jobs: PACSPULL_INSTANCE_ID, else the host name (a pod's name under
// Kubernetes, a container's id under compose). Stable across restarts of this mover, so
// that a restart takes back its own jobs at once; several movers on one host need their
// own PACSPULL_INSTANCE_ID.
std::string mover_identity() {
  if (const char* id = std::getenv("PACSPULL_INSTANCE_ID"); id && *id) return id;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host[0] ? std::string(host) : std::string("mover");
}
}  // namespace

MoverApp::MoverApp(runtime::Context& ctx) : ctx_(ctx), mover_id_(mover_identity()) {}

ledger::Ledger& MoverApp::exec_ledger() { return *tl_ledger; }

void MoverApp::run() {
  int reset = ctx_.ledger->transact(
      [&](pqxx::work& w) { return ledger::reset_running_jobs(w, mover_id_, ctx_.clock->now()); });
  if (reset > 0)
    spdlog::warn("mover {}: {} moves were running at its last stop (or their mover's lease ran out); they run again",
                 mover_id_, reset);
  ctx_.metrics->gauge("pacspull_mover_store_held", "1 while every receiver refuses (store over its high watermark): moves wait")
      .Set(0);
  for (const char* outcome : {"ok", "retryable", "permanent"})  // at 0, so "all failing" alerts can fire
    ctx_.metrics->counter("pacspull_mover_moves_total", "C-MOVE attempts by outcome", {{"outcome", outcome}});
  // At 0 from start-up (the dashboard's fallback panel, deploy/grafana/README.md).
  for (const auto& p : ctx_.config.pacs) {
    ctx_.metrics->counter("pacspull_mover_series_fallbacks_total",
                          "series-level retrievals refused or empty, the whole study retrieved instead", {{"pacs", p.name}});
    ctx_.metrics->counter("pacspull_mover_cget_fallbacks_total",
                          "C-MOVEs refused before sending (0xA801, 0xCxxx) retried by C-GET (retrieve: auto)",
                          {{"pacs", p.name}});
  }
  for (const char* value : {"yes", "no"})
    ctx_.metrics->counter("pacspull_mover_capabilities_learned_total", "PACS capabilities learned from retrievals",
                          {{"capability", "series_move"}, {"value", value}});
  rpc::Server server(ctx_.ports.grpc_port, {this});
  bus::Worker worker(*ctx_.bus, runtime::mover_consumer(), [this](bus::Message& m) { return on_request(m); });
  worker.start();
  // One executor per move allowed in flight (mover.max_parallel_moves, default 1: synchronous).
  const int executors = std::max(1, ctx_.config.mover.max_parallel_moves);
  std::vector<std::thread> pool;
  for (int i = 0; i < executors; ++i) pool.emplace_back([this] { execute_loop(); });
  spdlog::info("mover: gRPC on :{}, moving to {}, {} move(s) at once per PACS{}", server.port(),
               ctx_.config.local.receiver_ae_title.str(), executors,
               executors > 1 && ctx_.config.mover.adaptive ? " (adaptive)" : "");
  // Leases of the jobs this mover runs are renewed while they run (a move can take long).
  while (!ctx_.stop->wait_for(kLeaseRenewEvery)) {
    try {
      ctx_.ledger->transact(
          [&](pqxx::work& w) { return ledger::renew_leases(w, mover_id_, ctx_.clock->now(), ledger::kMoveLease); });
    } catch (const std::exception& e) {
      spdlog::error("mover {}: cannot renew the leases of its running moves: {}", mover_id_, e.what());
    }
  }
  wake();
  worker.stop();
  for (auto& t : pool) t.join();
}

bus::Decision MoverApp::on_request(bus::Message& m) {
  events::v1::MoveRequest req;
  if (auto parked = parse_or_park(ctx_, m, req, [&] { return !req.study_instance_uid().empty(); })) return *parked;
  ledger::MoveWork work{req.study_instance_uid(), req.pacs(), req.reason(), req.series_instance_uid(),
                        req.generation(), static_cast<int>(req.priority()), from_proto(req.exam_time()), {}};
  for (const auto& uid : req.series_uids()) work.series_uids.push_back(uid);
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

std::vector<std::string> MoverApp::full_pacs() {
  std::lock_guard lock(mu_);
  std::vector<std::string> full;
  for (const auto& [pacs, n] : in_flight_) {
    auto it = windows_.find(pacs);
    const int limit = it == windows_.end() ? std::max(1, ctx_.config.mover.max_parallel_moves) : it->second.limit;
    if (n >= limit) full.push_back(pacs);
  }
  return full;
}

void MoverApp::finished(const std::string& pacs, const pipeline::Outcome& o) {
  {
    std::lock_guard lock(mu_);
    if (--in_flight_[pacs] <= 0) in_flight_.erase(pacs);
    const pipeline::WindowPolicy policy{std::max(1, ctx_.config.mover.max_parallel_moves), ctx_.config.mover.adaptive, 3};
    auto [it, fresh] = windows_.try_emplace(pacs, pipeline::Window{policy.max, 0});
    const int before = it->second.limit;
    it->second = pipeline::next_window(policy, it->second, o);
    if (it->second.limit != before)
      spdlog::warn("mover: PACS {}: {} move(s) at once now (was {}) after {}", pacs, it->second.limit, before,
                   pipeline::describe(o));
    ctx_.metrics->gauge("pacspull_mover_window", "moves allowed in flight per PACS", {{"pacs", pacs}})
        .Set(it->second.limit);
  }
  wake();  // another executor may now claim a job for this PACS
}

void MoverApp::execute_loop() {
  std::unique_ptr<ledger::Ledger> own;
  while (!own && !ctx_.stop->stopped()) {
    try {
      own = ctx_.open_ledger();
    } catch (const std::exception& e) {
      spdlog::error("mover: ledger: {}; retrying", e.what());
      ctx_.stop->wait_for(std::chrono::seconds(2));
    }
  }
  tl_ledger = own.get();
  while (!ctx_.stop->stopped()) {
    std::optional<ledger::MoveJobRow> job;
    std::optional<core::Time> due;
    if (store_held()) {
      ctx_.stop->wait_for(kHoldRecheck);
      continue;
    }
    try {
      const std::vector<std::string> full = full_pacs();
      job = exec_ledger().transact(
          [&](pqxx::work& w) { return ledger::claim_next_job(w, ctx_.clock->now(), full, mover_id_); });
      if (!job) due = exec_ledger().transact([&](pqxx::work& w) { return ledger::next_due(w); });
    } catch (const std::exception& e) {
      spdlog::error("mover: ledger: {}", e.what());
    }
    if (job) {
      {
        std::lock_guard lock(mu_);
        ++in_flight_[job->work.pacs];
      }
      finished(job->work.pacs, execute(*job));
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

bool MoverApp::store_held() {
  ledger::StoreHold h;
  try {
    h = exec_ledger().transact([&](pqxx::work& w) { return ledger::store_hold(w, ctx_.clock->now(), kReceiverFresh); });
  } catch (const std::exception& e) {
    spdlog::error("mover: ledger: {}", e.what());
    return false;  // the claim that follows reports the ledger too
  }
  std::lock_guard lock(mu_);
  if (h.held != held_) {
    held_ = h.held;
    if (held_)
      spdlog::error("mover {}: every receiver ({} of {}) refuses: the store is over its high watermark; moves wait "
                    "without spending attempts until it is below the low watermark",
                    mover_id_, h.refusing, h.receivers);
    else
      spdlog::warn("mover {}: a receiver serves again ({} of {} refusing); moves resume", mover_id_, h.refusing,
                   h.receivers);
    ctx_.metrics->gauge("pacspull_mover_store_held", "1 while every receiver refuses (store over its high watermark): moves wait")
        .Set(held_ ? 1 : 0);
  }
  return h.held;
}

pipeline::RetrieveSetting MoverApp::setting_of(const std::string& pacs) const {
  for (const auto& p : ctx_.config.pacs)
    if (p.name == pacs) return pipeline::parse_retrieve_setting(p.retrieve).value_or(pipeline::RetrieveSetting::Move);
  return pipeline::RetrieveSetting::Move;
}

pipeline::PacsCapabilities MoverApp::capabilities_of(const std::string& pacs) {
  pipeline::PacsCapabilities caps;
  try {
    auto row = exec_ledger().transact([&](pqxx::work& w) { return ledger::load_pacs_capabilities(w, pacs); });
    if (row) caps = row->capabilities;
  } catch (const std::exception& e) {
    spdlog::warn("mover: cannot read the capabilities of PACS {} from the ledger ({}); only the site's pins count", pacs,
                 e.what());
  }
  for (const auto& p : ctx_.config.pacs)
    if (p.name == pacs) return pipeline::merge_pins(caps, p.capability_pins);
  return caps;
}

void MoverApp::learn_series_move(const std::string& pacs, bool value, const std::string& why, const std::string& study) {
  const std::string what = std::string("series-level retrieval ") + (value ? "works" : "does not work") + " at PACS " +
                           pacs + " (series_move: " + (value ? "yes" : "no") + "): " + why;
  std::string stored = "recorded in the ledger";
  try {
    const bool recorded = exec_ledger().transact([&](pqxx::work& w) {
      const bool r = ledger::record_learned_capability(w, pacs, ledger::LearnedCapability::SeriesMove, value);
      ledger::record_event(w, study, "", "mover", "capability-learned", rules::Text::from_utf8(what));
      return r;
    });
    if (!recorded) stored = "not recorded: pinned by the site, or the PACS is not in the ledger's list";
  } catch (const std::exception& e) {
    stored = std::string("not recorded: ") + e.what();
  }
  if (value) spdlog::info("mover: learned {}; {}", what, stored);
  else spdlog::warn("mover: learned {}; {}; its moves naming series retrieve the whole study from now on", what, stored);
  ctx_.metrics
      ->counter("pacspull_mover_capabilities_learned_total", "PACS capabilities learned from retrievals",
                {{"capability", "series_move"}, {"value", value ? "yes" : "no"}})
      .Increment();
}

pipeline::Outcome MoverApp::retrieve_item(const ledger::PacsNodeRow& node, pipeline::RetrieveSetting setting,
                                          const pipeline::PacsCapabilities& caps, bool& by_get, const std::string& study,
                                          const std::string& series, const std::string& sop,
                                          ledger::MoveAttempt& attempt) {
  if (by_get) return retrieve_one(node, true, study, series, sop, attempt);
  const int before = attempt.completed;
  pipeline::Outcome o = retrieve_one(node, false, study, series, sop, attempt);
  const pipeline::GetFallback fb = pipeline::get_fallback(setting, caps.c_get, o, attempt.completed - before);
  if (fb.use_get) {
    spdlog::warn("mover: study {}: PACS {}: {}", study, node.name, fb.reason);
    ctx_.metrics
        ->counter("pacspull_mover_cget_fallbacks_total",
                  "C-MOVEs refused before sending (0xA801, 0xCxxx) retried by C-GET (retrieve: auto)",
                  {{"pacs", node.name}})
        .Increment();
    by_get = true;
    return retrieve_one(node, true, study, series, sop, attempt);
  }
  if (!fb.reason.empty()) o.message += "; " + fb.reason;
  return o;
}

pipeline::Outcome MoverApp::retrieve_one(const ledger::PacsNodeRow& node, bool get, const std::string& study,
                                         const std::string& series, const std::string& sop,
                                         ledger::MoveAttempt& attempt) {
  const auto& cfg = ctx_.config;
  dicom::Peer peer{core::AeTitle(node.ae_title), node.host, static_cast<uint16_t>(node.port),
                   pacs_tls(ctx_.config, node.name)};
  std::optional<core::SeriesUid> series_uid;
  std::optional<core::SopInstanceUid> sop_uid;
  if (!series.empty()) series_uid = core::SeriesUid(series);
  if (!sop.empty()) sop_uid = core::SopInstanceUid(sop);
  pipeline::Outcome o;
  if (get) {
    dicom::GetOptions g{cfg.local.storage_root, {}};
    dicom::GetResult r = dicom::get(scu_options(cfg), g, peer, core::StudyUid(study), series_uid, sop_uid,
                                    [this](const dicom::StoreScp::Stored& s) { return on_got(s); });
    attempt.completed += r.completed;
    attempt.failed += r.failed;
    attempt.warning += r.warning;
    attempt.elapsed += r.elapsed;
    o = r.outcome;
  } else {
    dicom::MoveResult r = dicom::move(scu_options(cfg), peer, cfg.local.receiver_ae_title, core::StudyUid(study),
                                      series_uid, sop_uid);
    attempt.completed += r.completed;
    attempt.failed += r.failed;
    attempt.warning += r.warning;
    attempt.elapsed += r.elapsed;
    o = r.outcome;
  }
  return o;
}

pipeline::Outcome MoverApp::retrieve_from(const ledger::MoveJobRow& job, const ledger::PacsNodeRow& node,
                                          const std::set<std::string>& held, ledger::MoveAttempt& attempt) {
  const pipeline::RetrieveSetting setting = setting_of(node.name);
  const pipeline::PacsCapabilities caps = capabilities_of(node.name);
  bool by_get = setting == pipeline::RetrieveSetting::Get;
  attempt.method = by_get ? "get" : "move";
  attempt.retrieved_from = node.name;
  const std::string& study = job.work.study_uid;
  const size_t named = !job.work.series_uids.empty() ? job.work.series_uids.size() : !job.work.series_uid.empty();
  // What to ask for: named series, a single series, exactly what is missing, or the study.
  std::vector<std::pair<std::string, std::string>> items;  // (series, sop); both empty = the study
  if (named > 0 && !pipeline::retrieve_by_series(caps.series_move)) {
    spdlog::info("mover: study {}: PACS {} does not retrieve at series level (series_move: no); retrieving the whole "
                 "study instead of the {} series named",
                 study, node.name, named);
    items.emplace_back("", "");
  } else if (!job.work.series_uids.empty()) {
    for (const auto& s : job.work.series_uids) items.emplace_back(s, "");
  } else if (!job.work.series_uid.empty()) {
    items.emplace_back(job.work.series_uid, "");
  } else if (!held.empty() && !pipeline::retrieve_by_series(caps.series_move)) {
    spdlog::info("mover: re-pull of study {} from {}: it does not retrieve at series level (series_move: no); "
                 "moving the whole study",
                 study, node.name);
    items.emplace_back("", "");
  } else if (!held.empty()) {
    // A re-pull: list the PACS's instances and move only what we lack. Any failed query
    // falls back to the whole study (the receiver is idempotent).
    const dicom::Peer peer{core::AeTitle(node.ae_title), node.host, static_cast<uint16_t>(node.port),
                           pacs_tls(ctx_.config, node.name)};
    const auto options = scu_options(ctx_.config);
    dicom::FindResult series = dicom::find(options, peer, dicom::QueryLevel::Series,
                                           core::AttributeMap{{"StudyInstanceUID", study}});
    std::vector<pipeline::PacsSeries> listed;
    bool listed_ok = !series.error && !series.truncated && !series.matches.empty();
    for (const auto& m : series.matches) {
      if (!listed_ok) break;
      const std::string uid = m.trimmed("SeriesInstanceUID");
      dicom::FindResult images = dicom::find(options, peer, dicom::QueryLevel::Image,
                                             core::AttributeMap{{"StudyInstanceUID", study}, {"SeriesInstanceUID", uid}});
      if (uid.empty() || images.error || images.truncated) {
        listed_ok = false;
        break;
      }
      pipeline::PacsSeries ps{uid, {}};
      for (const auto& i : images.matches) ps.sop_uids.push_back(i.trimmed("SOPInstanceUID"));
      listed.push_back(std::move(ps));
    }
    if (listed_ok) {
      pipeline::RepullPlan plan = pipeline::plan_repull(listed, held);
      spdlog::info("mover: re-pull of study {} from {}: {} instances here, {} series and {} single instances missing",
                   study, node.name, plan.present, plan.whole_series.size(), plan.instances.size());
      for (const auto& s : plan.whole_series) items.emplace_back(s, "");
      for (const auto& i : plan.instances) items.emplace_back(i.series_uid, i.sop_uid);
      if (items.empty()) {
        return pipeline::make_outcome(pipeline::OutcomeClass::Success, 0,
                                      "re-pull: nothing missing (" + std::to_string(plan.present) +
                                          " instances listed by " + node.name + " are all here)");
      }
    } else {
      spdlog::warn("mover: re-pull of study {}: {} did not list its instances; moving the whole study", study,
                   node.name);
      items.emplace_back("", "");
    }
  } else {
    items.emplace_back("", "");
  }
  // Series by series: while the PACS's series level is unknown its answers are judged
  // (pipeline::judge_series_retrievals); a refusal is evidence, not yet the job's end.
  const bool series_items = std::all_of(items.begin(), items.end(), [](const auto& i) {
    return !i.first.empty() && i.second.empty();
  });
  std::vector<pipeline::SeriesRetrieval> done;
  std::optional<pipeline::Outcome> failure, stopped;
  pipeline::Outcome last;
  int sent = 0;
  for (const auto& [series, sop] : items) {
    const int before = attempt.completed;
    last = retrieve_item(node, setting, caps, by_get, study, series, sop, attempt);
    if (series_items) done.push_back({last, attempt.completed - before});
    if (last.ok()) {
      ++sent;
      continue;
    }
    const bool go_on = series_items ? pipeline::continue_after_series(caps.series_move, last)
                                    : last.cls == pipeline::OutcomeClass::NothingSent && items.size() > 1;
    if (!go_on) {
      stopped = last;
      break;
    }
    if (last.cls != pipeline::OutcomeClass::NothingSent && !failure) failure = last;
  }
  attempt.method = by_get ? "get" : "move";
  if (series_items) {
    const pipeline::SeriesLevelDecision d = pipeline::judge_series_retrievals(caps.series_move, done);
    if (d.learn) learn_series_move(node.name, *d.learn, d.reason, study);
    if (d.whole_study && !stopped) {
      spdlog::warn("mover: study {}: PACS {}: {}; retrieving the whole study in this attempt", study, node.name,
                   d.reason);
      ctx_.metrics
          ->counter("pacspull_mover_series_fallbacks_total",
                    "series-level retrievals refused or empty, the whole study retrieved instead", {{"pacs", node.name}})
          .Increment();
      const int before = attempt.completed;
      pipeline::Outcome whole = retrieve_item(node, setting, caps, by_get, study, "", "", attempt);
      attempt.method = by_get ? "get" : "move";
      const int came = attempt.completed - before;
      if (d.learn_false_if_study_delivers && came > 0)
        learn_series_move(node.name, false, d.reason + ", the whole study sent " + std::to_string(came) + " instances",
                          study);
      whole.message = "whole study (" + d.reason + "): " + whole.message;
      return whole;
    }
  }
  if (stopped) return *stopped;
  if (failure) return *failure;
  if (sent == 0 && items.size() > 1)
    return pipeline::make_outcome(pipeline::OutcomeClass::NothingSent, 0, "none of the series sent anything");
  if (items.size() > 1)
    last.message = std::to_string(items.size()) + " retrievals (" + attempt.method + "), " +
                   std::to_string(attempt.completed) + " instances";
  return last;
}

pipeline::Outcome MoverApp::execute(const ledger::MoveJobRow& job) {
  const auto& cfg = ctx_.config;
  ledger::MoveAttempt attempt;
  ledger::StudySources sources;
  std::vector<ledger::PacsNodeRow> nodes;
  std::set<std::string> held;
  try {
    exec_ledger().transact([&](pqxx::work& w) {
      sources = ledger::study_sources(w, job.work.study_uid);
      nodes = ledger::pacs_nodes(w);
      held = ledger::held_instances(w, job.work.study_uid);
    });
  } catch (const std::exception& e) {
    spdlog::warn("mover: ledger: {}; moving study {} from {} only", e.what(), job.work.study_uid, job.work.pacs);
  }
  // Known holders first (complete ones first), then every other configured PACS, asked
  // by C-FIND whether it has the study before anything is retrieved from it.
  std::vector<std::string> order = pipeline::order_sources(job.work.pacs, sources.candidates, sources.expected);
  const size_t known = order.size();
  for (const auto& n : nodes)
    if (std::find(order.begin(), order.end(), n.name) == order.end()) order.push_back(n.name);
  auto node_of = [&](const std::string& name) -> std::optional<ledger::PacsNodeRow> {
    if (name == job.work.pacs && job.pacs.port != 0) return job.pacs;
    for (const auto& n : nodes)
      if (n.name == name && n.port != 0) return n;
    return std::nullopt;
  };
  std::vector<pipeline::Outcome> outcomes;
  spdlog::info("mover: moving study {} from {} (attempt {}, priority {})", job.work.study_uid, job.work.pacs,
               job.attempts, job.work.priority);
  for (size_t i = 0; i < order.size(); ++i) {
    const std::string& name = order[i];
    auto node = node_of(name);
    if (!node) {
      outcomes.push_back(pipeline::make_outcome(pipeline::OutcomeClass::NotConfigured, 0,
                                                "PACS '" + name + "' is not configured"));
      continue;
    }
    if (i >= known) {
      if (outcomes.empty()) break;  // only a failover goes beyond the known holders
      dicom::Peer peer{core::AeTitle(node->ae_title), node->host, static_cast<uint16_t>(node->port),
                       pacs_tls(ctx_.config, node->name)};
      dicom::FindResult f = dicom::find(scu_options(cfg), peer, dicom::QueryLevel::Study,
                                        core::AttributeMap{{"StudyInstanceUID", job.work.study_uid},
                                                           {"NumberOfStudyRelatedInstances", ""}});
      if (f.error || f.matches.empty()) continue;
      std::optional<long> count;
      if (auto n = f.matches.front().integer("NumberOfStudyRelatedInstances")) count = static_cast<long>(*n);
      try {
        exec_ledger().transact([&](pqxx::work& w) {
          ledger::record_location(w, job.work.study_uid, name, count, ctx_.clock->now());
        });
      } catch (const std::exception& e) {
        spdlog::warn("mover: cannot record that {} holds study {}: {}", name, job.work.study_uid, e.what());
      }
    }
    if (!outcomes.empty()) {
      spdlog::warn("mover: study {}: failing over to PACS {} after {}", job.work.study_uid, name,
                   pipeline::describe(outcomes.back()));
      ctx_.metrics->counter("pacspull_mover_failovers_total", "retrievals tried on another PACS after a failure")
          .Increment();
    }
    pipeline::Outcome o = retrieve_from(job, *node, held, attempt);
    outcomes.push_back(o);
    if (o.ok() || !pipeline::fails_over(o)) break;
  }
  // The attempt's outcome: success if any PACS delivered; else a retryable failure if any
  // (that PACS may come back), else the last permanent one.
  pipeline::Outcome outcome;
  if (outcomes.empty()) {
    outcome = pipeline::make_outcome(pipeline::OutcomeClass::NotConfigured, 0,
                                     "no configured PACS holds study " + job.work.study_uid);
  } else if (outcomes.back().ok()) {
    outcome = outcomes.back();
  } else {
    outcome = outcomes.back();
    for (const auto& o : outcomes)
      if (o.kind == pipeline::OutcomeKind::Retryable) {
        outcome = o;
        break;
      }
  }
  attempt.success = outcome.ok();
  attempt.outcome = pipeline::to_string(outcome.cls);
  attempt.outcome_kind = pipeline::to_string(outcome.kind);
  if (!outcome.ok()) attempt.error = rules::Text::from_utf8(pipeline::describe(outcome));
  ctx_.metrics
      ->histogram("pacspull_mover_move_seconds", "C-MOVE duration",
                  prometheus::Histogram::BucketBoundaries{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600})
      .Observe(static_cast<double>(attempt.elapsed.count()) / 1000.0);
  pipeline::RetryPolicy policy{cfg.mover.max_attempts,
                               std::chrono::duration_cast<core::Seconds>(cfg.mover.retry_backoff),
                               std::chrono::duration_cast<core::Seconds>(cfg.mover.retry_backoff) * 10};
  pipeline::JobDecision d = pipeline::after_outcome(policy, job.attempts, outcome, ctx_.clock->now());
  const char* kind = pipeline::to_string(outcome.kind);
  ctx_.metrics->counter("pacspull_mover_moves_total", "C-MOVE attempts by outcome", {{"outcome", kind}}).Increment();
  ctx_.metrics
      ->counter("pacspull_mover_outcomes_total", "retrieval attempts by outcome class and method",
                {{"class", attempt.outcome}, {"method", attempt.method.empty() ? "move" : attempt.method}})
      .Increment();
  if (d.next == pipeline::JobNext::Failed)
    ctx_.metrics->counter("pacspull_mover_jobs_failed_total", "move jobs failed for good", {{"kind", kind}}).Increment();
  if (d.next == pipeline::JobNext::Done)
    spdlog::info("mover: move took {:.1f} s from PACS {}: {} instances", attempt.elapsed.count() / 1000.0,
                 attempt.retrieved_from, attempt.completed);
  else
    spdlog::warn("mover: study {}: {}", job.work.study_uid, d.reason);
  try {
    exec_ledger().transact([&](pqxx::work& w) {
      ledger::finish_job(w, job, attempt, d, ctx_.clock->now());
      if (d.next == pipeline::JobNext::Done || d.next == pipeline::JobNext::Failed)  // the audit trail's pull row
        ledger::record_audit(w, {"mover", ledger::audit::kPullMoved, job.work.study_uid,
                                 runtime::audit_detail({{"result", d.next == pipeline::JobNext::Done ? "done" : "failed"},
                                                        {"job", std::to_string(job.id)},
                                                        {"from", attempt.retrieved_from},
                                                        {"completed", std::to_string(attempt.completed)},
                                                        {"outcome", attempt.outcome}})});
    });
  } catch (const std::exception& e) {
    // The job stays `running`; the next start-up runs it again.
    spdlog::error("mover: cannot record the outcome of job {}: {}", job.id, e.what());
  }
  return outcome;
}

dicom::StoreScp::SinkResult MoverApp::on_got(const dicom::StoreScp::Stored& s) {
  // The same rows the receiver writes for a C-STORE: the checker and the filter cannot
  // tell a C-GET from a C-MOVE.
  using rules::Text;
  ledger::InstanceRow row = services::instance_row(s, "mover-cget");
  try {
    ledger::RecordedInstance r = exec_ledger().transact([&](pqxx::work& w) {
      if (s.arrival == dicom::StoreScp::Arrival::Conflict) {
        ledger::record_conflict(w, row, row.path, Text::from_utf8(s.conflict_path.string()));
        return ledger::RecordedInstance{};
      }
      ledger::RecordedInstance recorded = ledger::record_instance(w, row);
      if (recorded.revived && !std::filesystem::exists(s.path))
        throw std::runtime_error("file " + s.path.string() + " was deleted while it arrived again");
      return recorded;
    });
    if (r.file_gone) return dicom::StoreScp::SinkResult::RetryLater;
    ctx_.metrics->counter("pacspull_mover_cget_instances_total", "instances stored and recorded from C-GET").Increment();
    return dicom::StoreScp::SinkResult::Ok;
  } catch (const std::exception& e) {
    spdlog::error("mover: cannot record {} from C-GET in the ledger: {}", row.sop_uid.str(),
                  Text::from_utf8(e.what()).str());
    return dicom::StoreScp::SinkResult::RetryLater;
  }
}

grpc::Status MoverApp::ListJobs(grpc::ServerContext* sc, const mover::v1::ListJobsRequest* req,
                                mover::v1::ListJobsResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Read, "mover.ListJobs"); !denied.ok()) return denied;
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

grpc::Status MoverApp::RetryJob(grpc::ServerContext* sc, const mover::v1::RetryJobRequest* req,
                                mover::v1::RetryJobResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Mutate, "mover.RetryJob"); !denied.ok()) return denied;
  try {
    resp->set_requeued(ctx_.ledger->transact([&](pqxx::work& w) { return ledger::retry_job(w, req->id(), ctx_.clock->now()); }));
    if (resp->requeued()) wake();
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    return rpc::unavailable(e.what());
  }
}

}  // namespace pacspull::services
