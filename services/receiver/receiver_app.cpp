#include "receiver_app.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "pacspull/ledger/receiver_store.hpp"
#include "pacspull/rpc/server.hpp"

namespace pacspull::services {
namespace {

// Text the ledger stores or the filter reads whose raw bytes are kept when not plain ASCII.
const std::vector<std::string_view> kStudyTextAttributes = {
    "PatientName", "PatientID", "AccessionNumber", "StudyDescription", "InstitutionName", "StationName",
    "Manufacturer"};
const std::vector<std::string_view> kSeriesTextAttributes = {
    "SeriesDescription", "ProtocolName", "BodyPartExamined", "ImageComments", "ConvolutionKernel"};

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
  o.allowed_callers = cfg.receiver.allowed_callers;
  o.acse_timeout = std::chrono::duration_cast<std::chrono::seconds>(cfg.local.acse_timeout);
  o.dimse_timeout = std::chrono::duration_cast<std::chrono::seconds>(cfg.local.dimse_timeout);
  o.max_associations = static_cast<size_t>(cfg.receiver.max_associations);
  scp_ = std::make_unique<dicom::StoreScp>(o, [this](const dicom::StoreScp::Stored& s) { return on_stored(s); });
  try {
    dicom_port_ = scp_->start();
  } catch (const std::exception& e) {
    throw runtime::StartupError("receiver: cannot listen for DICOM on port " + std::to_string(o.port) + ": " +
                                    e.what(),
                                runtime::kExitDicomBind);
  }
  rpc::Server server(ctx_.ports.grpc_port, {this});
  spdlog::info("receiver {}: AE {} on DICOM port {}, storing under {}, gRPC :{}", instance_id_, o.ae_title.str(),
               dicom_port_, o.storage_root.string(), server.port());
  // The DICOM adapter counts what it answered; export the growth every few seconds.
  dicom::StoreScp::Counters last{};
  while (!ctx_.stop->wait_for(std::chrono::seconds(5))) {
    auto c = scp_->counters();
    ctx_.metrics->gauge("pacspull_receiver_associations", "associations accepted since start").Set(c.associations);
    if (c.failed > last.failed)
      ctx_.metrics->counter("pacspull_receiver_dicom_failures_total", "C-STOREs answered with any failure status")
          .Increment(static_cast<double>(c.failed - last.failed));
    if (c.rejected > last.rejected)
      ctx_.metrics
          ->counter("pacspull_receiver_associations_rejected_total", "associations rejected (AE titles, capacity)")
          .Increment(static_cast<double>(c.rejected - last.rejected));
    last = c;
  }
  scp_->stop();
}

std::unique_ptr<ledger::Ledger> ReceiverApp::take_connection() {
  {
    std::lock_guard lock(pool_mu_);
    if (!pool_.empty()) {
      auto l = std::move(pool_.back());
      pool_.pop_back();
      return l;
    }
  }
  return ctx_.open_ledger();
}

void ReceiverApp::give_back(std::unique_ptr<ledger::Ledger> l) {
  std::lock_guard lock(pool_mu_);
  pool_.push_back(std::move(l));
}

dicom::StoreScp::SinkResult ReceiverApp::on_stored(const dicom::StoreScp::Stored& s) {
  const core::AttributeMap& a = s.attributes;
  using rules::Text;
  ledger::InstanceRow row;
  row.study_uid = Text::ascii(a.get("StudyInstanceUID").value_or(""));
  row.series_uid = Text::ascii(a.get("SeriesInstanceUID").value_or(""));
  row.sop_uid = Text::ascii(a.get("SOPInstanceUID").value_or(""));
  row.path = Text::from_utf8(s.path.string());
  row.accession_number = rules::decoded(a, "AccessionNumber");
  row.patient_id = rules::decoded(a, "PatientID");
  row.study_date = Text::ascii(a.get("StudyDate").value_or(""));
  row.modality = Text::ascii(a.get("Modality").value_or(""));
  row.series_description = rules::decoded(a, "SeriesDescription");
  if (auto n = a.integer("SeriesNumber")) row.series_number = static_cast<int>(*n);
  row.bytes = static_cast<long long>(s.bytes);
  row.calling_ae = Text::ascii(s.calling_ae.str());
  row.receiver = Text::from_utf8(instance_id_);
  row.study_raws = rules::raw_texts(a, kStudyTextAttributes);
  row.series_raws = rules::raw_texts(a, kSeriesTextAttributes);
  try {
    std::unique_ptr<ledger::Ledger> l = take_connection();
    ledger::RecordedInstance r = l->transact([&](pqxx::work& w) {
      if (s.arrival == dicom::StoreScp::Arrival::Conflict) {
        ledger::record_conflict(w, row, row.path, Text::from_utf8(s.conflict_path.string()));
        return ledger::RecordedInstance{};
      }
      return ledger::record_instance(w, row);
    });
    give_back(std::move(l));
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
  } catch (const std::exception& e) {
    spdlog::error("receiver: cannot record {} in the ledger ({}); answering out-of-resources so the sender retries",
                  row.sop_uid.str(), Text::from_utf8(e.what()).str());
    ctx_.metrics
        ->counter("pacspull_receiver_store_failures_total", "C-STOREs answered with a failure status",
                  {{"reason", "ledger"}})
        .Increment();
    return dicom::StoreScp::SinkResult::RetryLater;
  }
}

grpc::Status ReceiverApp::GetStatus(grpc::ServerContext*, const receiver::v1::GetStatusRequest*,
                                    receiver::v1::GetStatusResponse* resp) {
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
