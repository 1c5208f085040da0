#pragma once
// The completeness checker scans the ledger (not the bus): a study in `pulling` whose
// moves are finished and that received no image for StableAge is compared with the
// PACS count; short studies are re-pulled (bounded), the rest handed to the filter.
// Being ledger-driven, it resumes by itself after any restart.
#include <mutex>

#include "messages.hpp"
#include "pacspull/checker/v1/checker.grpc.pb.h"
#include "pacspull/ledger/checker_store.hpp"
#include "pacspull/runtime/service.hpp"

namespace pacspull::services {

struct ScanSummary {
  int received = 0, repulled = 0, waiting = 0;
};

class CheckerApp : public checker::v1::Checker::Service {
 public:
  explicit CheckerApp(runtime::Context& ctx);
  void run();
  ScanSummary scan_once();
  grpc::Status CheckNow(grpc::ServerContext*, const checker::v1::CheckNowRequest*,
                        checker::v1::CheckNowResponse*) override;

 private:
  void publish_received(const ledger::ReceivedWork& w, Publish how = Publish::First);
  void reconcile_and_report();

  runtime::Context& ctx_;
  std::mutex scan_mu_;
};

}  // namespace pacspull::services
