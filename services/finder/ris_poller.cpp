#include "ris_poller.hpp"

#include <spdlog/spdlog.h>

#include "dicom_options.hpp"
#include "pacspull/core/timezone.hpp"
#include "pacspull/dicom/worklist.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/ris_store.hpp"
#include "pacspull/pipeline/query_window.hpp"
#include "pacspull/pipeline/ris_orders.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::services {
namespace {

std::chrono::seconds whole_seconds(config::Millis d) {
  return std::chrono::seconds(std::max<long long>(1, (d.count() + 999) / 1000));
}

ledger::RisOrderRow to_row(const std::string& ris, const dicom::WorklistOrder& o, const config::SiteConfig& cfg) {
  ledger::RisOrderRow row;
  row.ris = ris;
  row.accession = o.accession_number;
  row.patient_id = o.patient_id;
  // One row per scheduled procedure step; the ledger merges the steps of an accession.
  row.step_key = pipeline::ris_step_key(o.attributes.trimmed("RequestedProcedureID"),
                                        o.attributes.trimmed("ScheduledProcedureStepID"), o.body_parts_raw(),
                                        o.scheduled_date, o.scheduled_time);
  row.body_part_list = o.body_parts();
  rules::Text joined;
  for (const auto& part : row.body_part_list)
    joined = joined.empty() ? part : joined + rules::Text::from_utf8(" | ") + part;
  row.body_parts = joined;
  row.body_parts_raw = o.body_parts_raw();
  row.specific_character_set = o.attributes.trimmed("SpecificCharacterSet");
  row.priority = o.priority;
  row.scheduled_date = o.scheduled_date;
  row.scheduled_at = core::parse_dicom_datetime(o.scheduled_date, o.scheduled_time, cfg.zone);
  // A cancelled step is stored like any other (its texts decoded the same way) and marked:
  // the ledger's merge leaves it out. A step absent from this answer is not touched.
  row.status = o.step_status;
  return row;
}

}  // namespace

RisPoller::RisPoller(runtime::Context& ctx) : ctx_(ctx) {
  const auto& ris = *ctx_.config.ris;
  ctx_.metrics->counter("pacspull_finder_ris_errors_total", "RIS worklist queries or order writes that failed",
                        {{"ris", ris.name}});
  spdlog::info("finder: RIS {} ({}@{}:{}) polled every {} ms for orders of the last {} days, timeout {} ms", ris.name,
               ris.node.ae_title.str(), ris.node.host, ris.node.port, ris.poll_interval.count(), ris.window_days,
               ris.timeout.count());
  thread_ = std::thread([this] { loop(); });
}

RisPoller::~RisPoller() {
  if (thread_.joinable()) thread_.join();
}

void RisPoller::loop() {
  do {
    poll_once();
  } while (!ctx_.stop->wait_for(ctx_.config.ris->poll_interval));
}

RisPollSummary RisPoller::poll_once() {
  const auto& cfg = ctx_.config;
  const auto& ris = *cfg.ris;
  RisPollSummary summary;
  auto failed = [&](const std::string& message) {
    summary.errors.push_back(message);
    spdlog::warn("finder: RIS {}: {}", ris.name, message);
    ctx_.metrics->counter("pacspull_finder_ris_errors_total", "RIS worklist queries or order writes that failed",
                          {{"ris", ris.name}})
        .Increment();
  };
  const core::Time now = ctx_.clock->now();
  const pipeline::DateWindow window = pipeline::query_window(now, cfg.zone, -ris.window_days);
  dicom::ScuOptions options = scu_options(cfg);
  options.connect_timeout = options.acse_timeout = options.dimse_timeout = whole_seconds(ris.timeout);
  dicom::WorklistResult r = dicom::find_worklist(options, peer_of(ris.node), {window.from, window.to, ris.modalities});
  // What arrived before a failure is still stored: the next poll asks again anyway.
  if (r.error) failed("worklist query " + window.dicom_range() + " failed: " + rules::Text::from_utf8(r.error->message).str());
  if (r.truncated) failed("worklist answers capped: orders may be missing");
  if (r.orders.empty()) return summary;
  std::vector<ledger::RisOrderRow> rows;
  rows.reserve(r.orders.size());
  for (const auto& o : r.orders) rows.push_back(to_row(ris.name, o, cfg));
  try {
    if (!ledger_) ledger_ = ctx_.open_ledger();
    ledger::RisUpsert u = ledger_->transact([&](pqxx::work& w) { return ledger::upsert_ris_orders(w, rows, now); });
    summary.orders = u.orders;
    summary.cancelled = u.cancelled;
    summary.fresh = u.fresh;
    summary.raised = u.raised_studies;
    ctx_.metrics->counter("pacspull_finder_ris_orders_total", "new RIS orders stored", {{"ris", ris.name}})
        .Increment(u.fresh);
    // No PatientID or AccessionNumber in a log line (PHI): `pullctl why` shows the order.
    if (u.patient_conflicts > 0)
      spdlog::warn("finder: RIS {}: {} orders have procedure steps naming different patients (the first step's "
                   "PatientID is kept)",
                   ris.name, u.patient_conflicts);
    if (u.raised_studies > 0) {
      spdlog::info("finder: RIS {}: urgent orders raised the priority of {} studies ({} pending moves)", ris.name,
                   u.raised_studies, u.raised_jobs);
      ctx_.metrics->counter("pacspull_finder_ris_raised_total", "studies raised to urgent by a RIS order", {{"ris", ris.name}})
          .Increment(u.raised_studies);
    }
  } catch (const std::exception& e) {
    ledger_.reset();  // a fresh connection next time
    failed(std::string("storing ") + std::to_string(rows.size()) + " orders failed: " + e.what());
    return summary;
  }
  spdlog::info("finder: RIS {}: {} orders ({} new, {} procedure steps, {} of them cancelled) scheduled {}", ris.name,
               summary.orders, summary.fresh, rows.size(), summary.cancelled, window.dicom_range());
  return summary;
}

void apply_ris_priority(pqxx::work& w, ledger::MoveWork& m) {
  if (auto p = ledger::apply_ris_priority(w, m.study_uid); p && *p > m.priority) {
    m.priority = *p;
    m.reason += "; urgent RIS order";
  }
}

}  // namespace pacspull::services
