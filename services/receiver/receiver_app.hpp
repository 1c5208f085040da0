#pragma once
// The receiver: every instance is written durably (temp, fsync, rename) by the DICOM
// adapter, recorded in the ledger, and only then answered with Success. When the ledger
// is down the answer is "out of resources" and the PACS retries: nothing is acknowledged
// that is not recorded. Replicas share the storage root and the ledger; each records
// itself in `instances.receiver`.
//
// Store life cycle: the main loop checks the store's free space every second (above the
// high watermark every C-STORE is answered 0xA700 and readiness is NOT_SERVING, until at
// or below the low watermark) and sweeps settled studies every few seconds, deleting the
// files of those due (pipeline::deletion_due; any replica may delete any study, the ledger
// row lock makes it once). SIGTERM drains: no new associations, NOT_SERVING, those in
// flight get receiver.drain_grace to finish.
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "pacspull/dicom/store_scp.hpp"
#include "pacspull/receiver/v1/receiver.grpc.pb.h"
#include "pacspull/runtime/service.hpp"

namespace pacspull::services {

class ReceiverApp : public receiver::v1::Receiver::Service {
 public:
  explicit ReceiverApp(runtime::Context& ctx);
  void run();
  grpc::Status GetStatus(grpc::ServerContext*, const receiver::v1::GetStatusRequest*,
                         receiver::v1::GetStatusResponse*) override;

 private:
  dicom::StoreScp::SinkResult on_stored(const dicom::StoreScp::Stored& s);
  std::unique_ptr<ledger::Ledger> take_connection();
  void give_back(std::unique_ptr<ledger::Ledger> l);
  // Storage cap: returns the refusing state after this check.
  bool check_storage(bool refusing);
  void sweep_store();
  void warn_if_tmpfs();

  runtime::Context& ctx_;
  std::string instance_id_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<ledger::Ledger>> pool_;  // one connection per concurrent association
  std::unique_ptr<dicom::StoreScp> scp_;
  uint16_t dicom_port_ = 0;
  std::unique_ptr<ledger::Ledger> sweeper_;  // the sweep's own connection
  std::atomic<bool> refusing_{false};
};

}  // namespace pacspull::services
