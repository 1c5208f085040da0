#include "finder_app.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "dicom_options.hpp"
#include "messages.hpp"
#include "ris_poller.hpp"
#include "study_state_proto.hpp"
#include "pacspull/dicom/get.hpp"
#include "pacspull/dicom/probe.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/pacs_store.hpp"
#include "pacspull/ledger/timeline.hpp"
#include "pacspull/pipeline/series_choice.hpp"
#include "pacspull/pipeline/series_plan.hpp"
#include "pacspull/pipeline/modalities.hpp"
#include "pacspull/pipeline/query_window.hpp"
#include "pacspull/ledger/audit_store.hpp"
#include "pacspull/rpc/access.hpp"
#include "pacspull/runtime/grpc_security.hpp"
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

// The audit trail's pull row (issue 11 part 6), written in the transaction that queues the
// study: no PHI, the study UID only.
ledger::AuditEntry queued_entry(const ledger::MoveWork& m, const std::string& actor, const char* why) {
  return {actor, ledger::audit::kPullQueued, m.study_uid,
          runtime::audit_detail({{"why", why}, {"pacs", m.pacs}, {"generation", std::to_string(m.generation)},
                                 {"priority", std::to_string(m.priority)},
                                 {"series", std::to_string(m.series_uids.size())}})};
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
  for (const auto& p : ctx_.config.pacs) {  // at 0, so per-PACS error alerts see every PACS
    ctx_.metrics->counter("pacspull_finder_query_errors_total", "C-FIND failures", {{"pacs", p.name}});
    ctx_.metrics->counter("pacspull_finder_sampled_headers_total",
                          "instance headers C-GET to judge a series before the move", {{"pacs", p.name}});
    ctx_.metrics->counter("pacspull_finder_sampled_bytes_total", "bytes of instances C-GET for a sampled header",
                          {{"pacs", p.name}});
  }
  rpc::Server server(ctx_.ports.grpc_port, {this});
  // The RIS on its own thread: a RIS that hangs never delays the PACS polls below.
  std::unique_ptr<RisPoller> ris = ctx_.config.ris ? std::make_unique<RisPoller>(ctx_) : nullptr;
  {
    std::lock_guard lock(poll_mu_);
    for (const auto& p : ctx_.config.pacs) probe(p);
  }
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

namespace {

pipeline::SeriesFilterMode series_mode(const std::string& s) {
  if (s == "on") return pipeline::SeriesFilterMode::On;
  if (s == "off") return pipeline::SeriesFilterMode::Off;
  return pipeline::SeriesFilterMode::Auto;
}

long long epoch_of(core::Time t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

bool usable_uid(const std::string& uid) {
  return !uid.empty() && rules::Text::ascii(uid).str() == uid && uid.find(' ') == std::string::npos;
}

// The first sight's details of a study from its study-level answer.
void fill_found(ledger::FoundStudy& s, const std::string& uid, const core::AttributeMap& m, const config::SiteConfig& cfg) {
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
}

}  // namespace

void FinderApp::probe(const config::PacsNode& pacs) {
  const auto& cfg = ctx_.config;
  const core::Time now = ctx_.clock->now();
  PacsPlan& pp = plans_[pacs.name];
  ledger::PacsCapabilityRow row;
  row.pacs = pacs.name;
  row.pinned = pacs.pinned;
  row.probed_at = epoch_of(now);
  pipeline::PacsCapabilities probed;
  if (cfg.finder.probe) {
    // A month back: wide enough to see optional keys filled and a cap reached.
    const pipeline::DateWindow wide = pipeline::query_window(now, cfg.zone, -30);
    pipeline::ProbeAnswers answers =
        dicom::probe_answers(scu_options(cfg), peer_of(pacs.node), dicom::ProbeOptions{wide.from, wide.to});
    probed = pipeline::assess_probe(answers);
    // Nothing in the window tells nothing: asked again at the next poll.
    pp.probed = !answers.studies_failed && !answers.studies.empty();
    if (answers.studies_failed) row.probe_error = "study-level C-FIND failed; probed again at the next poll";
  } else {
    probed.notes.push_back("probing turned off (finder.probe: false): pins and defaults only");
    pp.probed = true;
  }
  pp.capabilities = pipeline::merge_pins(probed, pacs.capability_pins);
  pp.plan = pipeline::plan_queries(pp.capabilities, series_mode(cfg.finder.series_filter));
  row.capabilities = pp.capabilities;
  row.plan = pp.plan.describe();
  const auto& c = pp.capabilities;
  spdlog::info("finder: PACS {} capabilities{}: ModalitiesInStudy {}, study counts {}, filters on ModalitiesInStudy {}, "
               "series Modality {}, series counts {}, series BodyPartExamined {}, image level {}, result cap {}{}; plan: {}",
               pacs.name, pacs.pinned.empty() ? "" : " (pinned: " + fmt::format("{}", fmt::join(pacs.pinned, ", ")) + ")",
               pipeline::tri(c.study_modalities), pipeline::tri(c.study_counts), pipeline::tri(c.filters_modalities),
               pipeline::tri(c.series_modality), pipeline::tri(c.series_counts), pipeline::tri(c.series_body_part),
               pipeline::tri(c.image_level), c.result_cap ? std::to_string(*c.result_cap) : "unknown",
               c.timezone_offset ? ", TimezoneOffsetFromUTC " + *c.timezone_offset : "", row.plan);
  for (const auto& n : c.notes) spdlog::info("finder: PACS {} probe: {}", pacs.name, n);
  if (!row.probe_error.empty()) spdlog::warn("finder: PACS {} probe: {}", pacs.name, row.probe_error);
  ctx_.metrics->gauge("pacspull_finder_pacs_result_cap", "C-FIND answer cap of a PACS (0: none seen)", {{"pacs", pacs.name}})
      .Set(static_cast<double>(c.result_cap.value_or(0)));
  try {
    ctx_.ledger->transact([&](pqxx::work& w) { ledger::save_pacs_capabilities(w, row); });
  } catch (const std::exception& e) {
    spdlog::warn("finder: recording the capabilities of PACS {} failed: {}", pacs.name, e.what());
  }
}

const PacsPlan& FinderApp::plan_of(const config::PacsNode& pacs) {
  auto it = plans_.find(pacs.name);
  if (it == plans_.end() || !it->second.probed) probe(pacs);
  return plans_[pacs.name];
}

std::map<std::string, core::AttributeMap> FinderApp::find_studies(const config::PacsNode& pacs, const PacsPlan& plan,
                                                                  const pipeline::DateWindow& window,
                                                                  PollSummary& summary) {
  const auto& cfg = ctx_.config;
  std::deque<pipeline::QueryPart> todo;
  if (plan.plan.modality_queries) {
    for (const auto& modality : cfg.finder.modalities) todo.push_back({window.from, window.to, 0, 86399, modality});
  } else {
    todo.push_back({window.from, window.to, 0, 86399, ""});
  }
  std::map<std::string, core::AttributeMap> out;
  int queries = 0;
  while (!todo.empty()) {
    pipeline::QueryPart part = todo.front();
    todo.pop_front();
    if (++queries > 2000) {
      const std::string message = "more than 2000 query parts below the cap; " + std::to_string(todo.size() + 1) +
                                  " parts not asked: studies may be missing";
      summary.errors.push_back(pacs.name + ": " + message);
      spdlog::error("finder: PACS {}: {}", pacs.name, message);
      break;
    }
    core::AttributeMap keys = study_query(part.date_from, part.date_to, part.modality);
    if (!part.whole_day()) keys.set("StudyTime", part.study_time());
    dicom::FindResult r = dicom::find(scu_options(cfg, pacs.max_results), peer_of(pacs.node), dicom::QueryLevel::Study, keys);
    if (r.error) {
      const std::string message = rules::Text::from_utf8(r.error->message).str();
      summary.errors.push_back(pacs.name + ": " + message);
      spdlog::warn("finder: C-FIND {} on PACS {} failed: {}", part.describe(), pacs.name, message);
      ctx_.metrics->counter("pacspull_finder_query_errors_total", "C-FIND failures", {{"pacs", pacs.name}}).Increment();
      continue;
    }
    if (pipeline::hit_cap(r.matches.size(), r.ended_by_peer, r.truncated, plan.plan.cap)) {
      ctx_.metrics->counter("pacspull_finder_truncated_queries_total", "C-FIND results capped", {{"pacs", pacs.name}})
          .Increment();
      auto parts = pipeline::split_capped(part, plan.plan.can_split_modality, cfg.finder.modalities);
      if (parts.empty()) {
        const std::string message = "C-FIND " + part.describe() + " still reaches the cap at " +
                                    std::to_string(r.matches.size()) +
                                    " answers and cannot be split further: studies may be missing";
        summary.errors.push_back(pacs.name + ": " + message);
        spdlog::error("finder: PACS {}: {}", pacs.name, message);
        ctx_.metrics->counter("pacspull_finder_unsplittable_queries_total", "capped C-FINDs that cannot be split",
                              {{"pacs", pacs.name}})
            .Increment();
      } else {
        spdlog::warn("finder: PACS {} capped the C-FIND {} at {} answers{}; split into {} parts", pacs.name,
                     part.describe(), r.matches.size(), r.ended_by_peer ? " (0xFE00)" : "", parts.size());
        ctx_.metrics->counter("pacspull_finder_query_splits_total", "capped C-FINDs split into parts", {{"pacs", pacs.name}})
            .Increment();
        todo.insert(todo.end(), parts.begin(), parts.end());
      }
    }
    for (const auto& m : r.matches) {
      const std::string uid = m.trimmed("StudyInstanceUID");
      if (!usable_uid(uid)) {
        // No AccessionNumber or PatientID in logs: the date, time and modalities locate it.
        spdlog::warn("finder: PACS {} returned a study with an unusable StudyInstanceUID '{}' (StudyDate {} "
                     "StudyTime {}, {})",
                     pacs.name, rules::Text::ascii(uid).str(), rules::Text::ascii(m.trimmed("StudyDate")).str(),
                     rules::Text::ascii(m.trimmed("StudyTime")).str(),
                     rules::Text::ascii(m.trimmed("ModalitiesInStudy")).str());
        ctx_.metrics->counter("pacspull_finder_bad_uids_total", "studies with empty or illegal UIDs", {{"pacs", pacs.name}})
            .Increment();
        continue;
      }
      out.try_emplace(uid, m);
    }
  }
  return out;
}

namespace {

// The header one image-level answer carries into the series answer; learns whether the PACS
// gives it at image level (once seen, it stays known).
void take_header(const PacsPlan& plan, core::AttributeMap& series, const std::vector<core::AttributeMap>& images) {
  const std::optional<bool> answered = pipeline::take_header(series, images);
  if (answered && (*answered || !plan.image_header)) plan.image_header = *answered;
}

}  // namespace

bool FinderApp::learn_series(const config::PacsNode& pacs, const PacsPlan& plan, const std::string& uid,
                             core::AttributeMap& study, ledger::FoundStudy& s, PollSummary& summary) {
  const auto& cfg = ctx_.config;
  auto failed = [&](const std::string& message) {
    summary.errors.push_back(pacs.name + ": " + message);
    spdlog::warn("finder: PACS {}: {}", pacs.name, message);
    ctx_.metrics->counter("pacspull_finder_query_errors_total", "C-FIND failures", {{"pacs", pacs.name}}).Increment();
    return false;
  };
  // With the image header keys, for PACS that read one (Orthanc): thickness and kernel judged
  // before the move.
  dicom::FindResult r = dicom::find(scu_options(cfg), peer_of(pacs.node), dicom::QueryLevel::Series,
                                    pipeline::series_query_keys(uid));
  if (r.error) return failed("series-level C-FIND of study " + uid + " failed: " + rules::Text::from_utf8(r.error->message).str());
  if (r.ended_by_peer || r.truncated)
    return failed("series-level C-FIND of study " + uid + " was capped at " + std::to_string(r.matches.size()) +
                  " series: study not judged this poll");
  std::vector<pipeline::SeriesInfo> infos;
  std::vector<std::string> modalities;
  std::map<std::string, std::vector<core::AttributeMap>> listed;  // series uid -> its image-level answers
  for (auto& a : r.matches) {
    const std::string series_uid = a.trimmed("SeriesInstanceUID");
    if (series_uid.empty()) return failed("a series of study " + uid + " has no SeriesInstanceUID: study not judged");
    std::optional<long> count = a.integer("NumberOfSeriesRelatedInstances");
    const bool counted_by_images = !count && plan.plan.image_counts;
    if (counted_by_images) {
      dicom::FindResult ir = dicom::find(scu_options(cfg), peer_of(pacs.node), dicom::QueryLevel::Image,
                                         pipeline::image_query_keys(uid, series_uid));
      if (ir.error)
        return failed("image-level C-FIND of series " + series_uid + " failed: " +
                      rules::Text::from_utf8(ir.error->message).str());
      if (ir.ended_by_peer || ir.truncated)
        return failed("image-level C-FIND of series " + series_uid + " was capped: study not judged this poll");
      std::set<std::string> sops;
      for (const auto& i : ir.matches) sops.insert(i.trimmed("SOPInstanceUID"));
      count = static_cast<long>(sops.size());
      a.set("NumberOfSeriesRelatedInstances", std::to_string(*count));
      if (plan.plan.series_filter) take_header(plan, a, ir.matches);
      listed[series_uid] = std::move(ir.matches);
    }
    if (plan.plan.series_filter && !counted_by_images && !pipeline::header_answered(a) &&
        rules::family_of(cfg.rules, a.trimmed("Modality")) == rules::Family::Ct &&
        plan.capabilities.image_level.value_or(false) && plan.image_header.value_or(true)) {
      // "When needed image-level": the header of ONE instance (C-CANCEL after the first answer).
      dicom::FindResult ir = dicom::find(scu_options(cfg, 1), peer_of(pacs.node), dicom::QueryLevel::Image,
                                         pipeline::image_query_keys(uid, series_uid));
      if (ir.error) {
        // The header is optional: without it the series simply moves (integrity first).
        spdlog::warn("finder: PACS {}: image-level C-FIND of one instance of series {} failed: {}; the series moves "
                     "unless judged without its header",
                     pacs.name, series_uid, rules::Text::from_utf8(ir.error->message).str());
        ctx_.metrics->counter("pacspull_finder_query_errors_total", "C-FIND failures", {{"pacs", pacs.name}}).Increment();
      } else {
        take_header(plan, a, ir.matches);
        listed[series_uid] = std::move(ir.matches);
      }
    }
    const std::string modality = a.trimmed("Modality");
    if (!modality.empty() && std::find(modalities.begin(), modalities.end(), modality) == modalities.end())
      modalities.push_back(modality);
    infos.push_back({series_uid, modality, count});
  }
  if (plan.plan.series_filter && samples_headers(plan)) sample_headers(pacs, uid, study, r.matches, listed);
  if (study.trimmed("ModalitiesInStudy").empty()) {
    std::string joined;
    for (const auto& m : modalities) joined += (joined.empty() ? "" : "\\") + m;
    study.set("ModalitiesInStudy", joined);
  }
  s.fingerprint = pipeline::series_fingerprint(infos);
  const std::optional<long> total = pipeline::total_count(infos);
  s.series_summary = std::to_string(infos.size()) + " series, " + (total ? std::to_string(*total) : "?") + " instances";
  s.pacs_instances = total ? total : study.integer("NumberOfStudyRelatedInstances");
  if (plan.plan.series_filter) {
    pipeline::SeriesChoice choice = pipeline::choose_series(cfg.rules, r.matches, study);
    s.series_reason = choice.reason;
    if (choice.none_pass) {
      // Every series judged on full information and none can pass: settled unsupported
      // when stable, not moved (observe_study, Transition::FinderUnsupported).
      s.none_pass = true;
      s.series_dropped = choice.dropped;
    } else if (!choice.whole_study) {
      s.move_series = choice.move;
      if (choice.instances) s.pacs_instances = choice.instances;
      for (const auto& [series_uid, why] : choice.dropped)
        spdlog::info("finder: study {} series {} not moved: {}", uid, series_uid, why);
    }
  }
  return true;
}

bool FinderApp::samples_headers(const PacsPlan& plan) const {
  const std::string& mode = ctx_.config.finder.sample_headers;
  if (mode == "off" || !plan.capabilities.image_level.value_or(false)) return false;
  // auto: where the probe saw C-GET work; on: unless it saw C-GET refused.
  return mode == "on" ? plan.capabilities.c_get.value_or(true) : plan.capabilities.c_get.value_or(false);
}

void FinderApp::sample_headers(const config::PacsNode& pacs, const std::string& uid, const core::AttributeMap& study,
                               std::vector<core::AttributeMap>& series,
                               const std::map<std::string, std::vector<core::AttributeMap>>& listed) {
  const auto& cfg = ctx_.config;
  // A DX-family series moves the study whole: no header can change that.
  for (const auto& a : series)
    if (rules::family_of(cfg.rules, a.trimmed("Modality")) == rules::Family::Dx) return;
  for (auto& a : series) {
    if (!pipeline::wants_sample(cfg.rules, a, study)) continue;
    const std::string series_uid = a.trimmed("SeriesInstanceUID");
    const std::string key = pacs.name + "\n" + series_uid;
    samples_seen_.insert(key);
    if (auto hit = samples_.find(key); hit != samples_.end()) {
      pipeline::merge_sample(a, hit->second);  // sampled at an earlier poll: a series' header does not change
      continue;
    }
    auto skipped = [&](const std::string& why) {
      // Never blocks: without its header the series simply moves (integrity first).
      spdlog::warn("finder: PACS {}: sampled header of series {} of study {}: {}; the series moves unless judged "
                   "without it",
                   pacs.name, series_uid, uid, why);
      ctx_.metrics->counter("pacspull_finder_query_errors_total", "C-FIND failures", {{"pacs", pacs.name}}).Increment();
    };
    std::optional<std::string> sop;
    if (auto it = listed.find(series_uid); it != listed.end()) sop = pipeline::sample_instance(it->second);
    if (!sop) {
      dicom::FindResult ir = dicom::find(scu_options(cfg, 1), peer_of(pacs.node), dicom::QueryLevel::Image,
                                         pipeline::image_query_keys(uid, series_uid));
      if (ir.error) {
        skipped("image-level C-FIND for an instance to sample failed: " + rules::Text::from_utf8(ir.error->message).str());
        continue;
      }
      sop = pipeline::sample_instance(ir.matches);
      if (!sop) {
        skipped("no instance listed at image level");
        continue;
      }
    }
    dicom::HeaderResult got = dicom::get_header(scu_options(cfg), peer_of(pacs.node), core::StudyUid(uid),
                                                core::SeriesUid(series_uid), core::SopInstanceUid(*sop));
    ctx_.metrics
        ->counter("pacspull_finder_sampled_bytes_total", "bytes of instances C-GET for a sampled header", {{"pacs", pacs.name}})
        .Increment(static_cast<double>(got.bytes));
    if (!got.header) {
      skipped("C-GET of instance " + *sop + " failed: " + rules::Text::from_utf8(pipeline::describe(got.get.outcome)).str());
      continue;
    }
    ctx_.metrics
        ->counter("pacspull_finder_sampled_headers_total", "instance headers C-GET to judge a series before the move",
                  {{"pacs", pacs.name}})
        .Increment();
    pipeline::merge_sample(a, *got.header);
    spdlog::info("finder: PACS {}: sampled the header of series {} of study {} (instance {}, {} bytes): ImageType {}, "
                 "SliceThickness {}",
                 pacs.name, series_uid, uid, *sop, got.bytes, rules::Text::ascii(a.trimmed("ImageType")).str(),
                 rules::Text::ascii(a.trimmed("SliceThickness")).str());
    samples_.emplace(key, std::move(*got.header));
  }
}

PollSummary FinderApp::poll_once() {
  std::lock_guard lock(poll_mu_);
  PollSummary summary;
  const auto& cfg = ctx_.config;
  samples_seen_.clear();
  // StudyDate is the hospital's wall clock: the window is made of local dates.
  const core::Time now = ctx_.clock->now();
  const pipeline::DateWindow window = pipeline::query_window(now, cfg.zone, cfg.finder.crossday);

  // study uid -> what every PACS said of it; the first PACS in configuration order that
  // has it is where it will be moved from.
  std::map<std::string, ledger::FoundStudy> merged;
  for (const auto& pacs : cfg.pacs) {
    const PacsPlan& plan = plan_of(pacs);
    std::map<std::string, core::AttributeMap> answers = find_studies(pacs, plan, window, summary);
    for (auto& [uid, answer] : answers) {
      core::AttributeMap m = answer;
      const bool knows_modalities = !m.trimmed("ModalitiesInStudy").empty();
      // Study level knows only ModalitiesInStudy; "contains", never "equals". A PACS that
      // does not answer it is asked at series level first.
      if (knows_modalities || !plan.plan.series_queries) {
        rules::Verdict v = rules::evaluate(cfg.rules, rules::Level::Study, m);
        if (!v.pass) continue;
      }
      auto found = merged.find(uid);
      if (found == merged.end()) {
        ledger::FoundStudy s;
        if (plan.plan.series_queries) {
          if (!learn_series(pacs, plan, uid, m, s, summary)) continue;
          if (!knows_modalities) {
            rules::Verdict v = rules::evaluate(cfg.rules, rules::Level::Study, m);
            if (!v.pass) continue;
          }
        } else {
          s.pacs_instances = m.integer("NumberOfStudyRelatedInstances");
        }
        fill_found(s, uid, m, cfg);
        s.locations.emplace_back(pacs.name, s.pacs_instances);
        merged.emplace(uid, std::move(s));
        continue;
      }
      ledger::FoundStudy& s = found->second;
      std::optional<long> count = m.integer("NumberOfStudyRelatedInstances");
      if (!s.fingerprint && count && (!s.pacs_instances || *count > *s.pacs_instances))
        s.pacs_instances = count;  // mirrored PACS: the fuller one counts
      bool listed = false;
      for (auto& [name, n] : s.locations)
        if (name == pacs.name) listed = true;
      if (!listed) s.locations.emplace_back(pacs.name, count);
    }
    spdlog::info("finder: find {} studies from PACS {}", answers.size(), pacs.name);
  }
  summary.found = static_cast<int>(merged.size());
  ctx_.metrics->counter("pacspull_finder_polls_total", "poll cycles").Increment();
  // Sampled headers are kept while their series are still asked about (the date window).
  std::erase_if(samples_, [&](const auto& e) { return !samples_seen_.count(e.first); });

  const pipeline::FingerprintPolicy fp_policy{cfg.finder.stable_polls,
                                              std::chrono::duration_cast<core::Seconds>(cfg.finder.stable_min_age)};
  for (auto& [uid, s] : merged) {
    ledger::Observed o;
    try {
      o = ctx_.ledger->transact([&](pqxx::work& w) {
        auto seen = ledger::observe_study(w, s, {std::chrono::duration_cast<core::Seconds>(cfg.finder.fixed_delay)},
                                          now, fp_policy);
        if (seen.move) apply_ris_priority(w, *seen.move);  // an urgent RIS order jumps the queue
        if (seen.move) ledger::record_audit(w, queued_entry(*seen.move, "finder", "stable"));  // same transaction
        return seen;
      });
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
    if (o.unsupported) {
      spdlog::info("finder: stable study {}: {}; {}", uid, o.decision.reason, s.series_reason);
      for (const auto& [series_uid, why] : s.series_dropped)
        spdlog::info("finder: study {} series {} filtered before the move: {}", uid, series_uid, why);
      ctx_.metrics
          ->counter("pacspull_finder_studies_unsupported_total",
                    "stable studies settled unsupported without a move (no series can pass)")
          .Increment();
    }
    if (o.move) {
      ++summary.queued;
      spdlog::info("finder: stable study {}: {}{}", uid, o.decision.reason,
                   o.move->series_uids.empty() ? std::string()
                                               : "; series-level move of " + std::to_string(o.move->series_uids.size()) +
                                                     " series (" + s.series_reason + ")");
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

grpc::Status FinderApp::PollNow(grpc::ServerContext* sc, const finder::v1::PollNowRequest*,
                                finder::v1::PollNowResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Mutate, "finder.PollNow"); !denied.ok()) return denied;
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

grpc::Status FinderApp::RequestPull(grpc::ServerContext* sc, const finder::v1::RequestPullRequest* req,
                                    finder::v1::RequestPullResponse* resp) {
  rpc::Caller caller;
  if (auto denied = rpc::authorize(sc, rpc::Access::Mutate, "finder.RequestPull", &caller); !denied.ok()) return denied;
  std::string key = !req->study_instance_uid().empty() ? req->study_instance_uid()
                    : !req->accession_number().empty() ? req->accession_number()
                                                       : req->patient_id();
  if (key.empty()) return rpc::invalid("give a study instance uid, accession number or patient id");
  std::optional<rules::Text> checked = rules::Text::checked(key);
  if (!checked) return rpc::invalid("the key is not valid UTF-8 text (or holds a NUL byte)");
  try {
    auto moves = ctx_.ledger->transact(
        [&](pqxx::work& w) {
          auto queued = ledger::request_manual_pull(w, *checked, common::v1::PRIORITY_MANUAL, ctx_.clock->now());
          for (const auto& m : queued) ledger::record_audit(w, queued_entry(m, caller.actor, "manual"));
          return queued;
        });
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

grpc::Status FinderApp::ListStudies(grpc::ServerContext* sc, const finder::v1::ListStudiesRequest* req,
                                    finder::v1::ListStudiesResponse* resp) {
  if (auto denied = rpc::authorize(sc, rpc::Access::Read, "finder.ListStudies"); !denied.ok()) return denied;
  const std::string state(name_of(req->state()));  // "" (unspecified): every state
  try {
    auto items = ctx_.ledger->transact(
        [&](pqxx::work& w) { return ledger::list_studies(w, req->exam_date(), state, req->modality(), req->limit()); });
    for (const auto& i : items) {
      auto* s = resp->add_studies();
      s->mutable_study()->set_study_instance_uid(i.study_uid);
      s->mutable_study()->set_accession_number(i.accession_number);
      s->mutable_study()->set_patient_id(i.patient_id);
      if (auto st = pipeline::parse_state(i.state)) s->set_state(to_proto(*st));
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
