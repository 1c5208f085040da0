#pragma once
// The finder: every poll_interval, a study-level C-FIND on every PACS for the date
// window, "contains" modality filtering on ModalitiesInStudy, stability by unchanged
// NumberOfStudyRelatedInstances (DX at once), move requests for stable studies.
#include <atomic>
#include <mutex>

#include "messages.hpp"
#include "pacspull/finder/v1/finder.grpc.pb.h"
#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/runtime/service.hpp"

namespace pacspull::services {

struct PollSummary {
  int found = 0, fresh = 0, queued = 0;
  std::vector<std::string> errors;
};

class FinderApp : public finder::v1::Finder::Service {
 public:
  explicit FinderApp(runtime::Context& ctx);
  void run();
  PollSummary poll_once();

  grpc::Status PollNow(grpc::ServerContext*, const finder::v1::PollNowRequest*, finder::v1::PollNowResponse*) override;
  grpc::Status RequestPull(grpc::ServerContext*, const finder::v1::RequestPullRequest*,
                           finder::v1::RequestPullResponse*) override;
  grpc::Status ListStudies(grpc::ServerContext*, const finder::v1::ListStudiesRequest*,
                           finder::v1::ListStudiesResponse*) override;

 private:
  void publish_move(const ledger::MoveWork& m, Publish how = Publish::First);
  void reconcile();

  runtime::Context& ctx_;
  std::mutex poll_mu_;  // one poll at a time (timer or PollNow)
};

}  // namespace pacspull::services
