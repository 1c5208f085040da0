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
//
// Group commit: the ledger rows of instances that arrive while a ledger transaction is
// being committed (from any association) are recorded together in the next transaction, so
// concurrent associations share one commit (and one lock of a study row) instead of queueing
// behind each other's; the batch's rows are one statement (ledger::record_batch, migration
// 013). Each association's C-STORE-RSP still waits for the commit that holds
// its own row; a batch that fails is retried row by row, so one bad row fails only its own
// C-STORE. No timer: a lone association commits at once.
#include "pacspull/ledger/receiver_store.hpp"
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
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
  // Unless receiver.accept_unsolicited: an instance is admitted only when its study has a
  // ledger row a pull made (not one the receiver made for unsolicited images). Thread-safe;
  // throws when the ledger cannot answer (the adapter answers 0xA700, the sender retries).
  dicom::StoreScp::Admission admit(const core::AttributeMap& a, const core::AeTitle& calling, const std::string& peer);
  // One instance waiting for its ledger row to be committed (group commit).
  struct Recording {
    const ledger::InstanceRow* row = nullptr;
    const dicom::StoreScp::Stored* stored = nullptr;
    ledger::RecordedInstance result;
    std::string error;  // non-empty: not recorded
    bool done = false;  // guarded by commit_mu_
  };
  // Blocks until r's row is committed (or failed); thread-safe. The first caller that finds
  // no commit running commits everything queued, its own row included.
  void record(Recording& r);
  void commit_batch(std::vector<Recording*>& batch);  // never throws; fills result/error
  void export_scp_counters(const dicom::StoreScp::Counters& now, const dicom::StoreScp::Counters& last);
  // Storage cap: returns the refusing state after this check.
  bool check_storage(bool refusing);
  void sweep_store();
  void warn_if_tmpfs();
  // Tells the other services (the mover holds its moves while every receiver refuses)
  // through the ledger, on a change and every few seconds; `stopping` removes the row.
  void report_status(bool refusing, uint64_t free_bytes, bool stopping = false);

  runtime::Context& ctx_;
  std::string instance_id_;
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  std::vector<Recording*> commit_queue_;         // guarded by commit_mu_
  bool committing_ = false;                      // guarded by commit_mu_
  std::unique_ptr<ledger::Ledger> committer_;    // used only by the thread committing
  std::unique_ptr<dicom::StoreScp> scp_;
  std::mutex admit_mu_;
  std::unique_ptr<ledger::Ledger> admitter_;       // guarded by admit_mu_
  std::unordered_set<std::string> solicited_;       // guarded by admit_mu_: studies known solicited
  uint16_t dicom_port_ = 0;
  std::unique_ptr<ledger::Ledger> sweeper_;  // the sweep's (and status report's) own connection
  std::optional<bool> reported_refusing_;    // last status written to the ledger
  core::Time reported_at_{};
  std::atomic<bool> refusing_{false};
};

}  // namespace pacspull::services
