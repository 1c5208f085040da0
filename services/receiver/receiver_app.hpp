#pragma once
// The receiver: every instance is written durably (temp, fsync, rename) by the DICOM
// adapter, recorded in the ledger, and only then answered with Success. When the ledger
// is down the answer is "out of resources" and the PACS retries: nothing is acknowledged
// that is not recorded. Replicas share the storage root and the ledger; each records
// itself in `instances.receiver`.
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

  runtime::Context& ctx_;
  std::string instance_id_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<ledger::Ledger>> pool_;  // one connection per concurrent association
  std::unique_ptr<dicom::StoreScp> scp_;
  uint16_t dicom_port_ = 0;
};

}  // namespace pacspull::services
