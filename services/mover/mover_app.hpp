#pragma once
// The mover. Move requests from the bus become rows of `move_jobs` (acked once
// committed); one executor thread runs them synchronously, one at a time, in priority
// then exam-time order: one study at a time keeps the AI backend computing steadily
// instead of starving it and then flooding it. Jobs left running by a crash are run
// again at start-up (the receiver is idempotent).
#include <condition_variable>
#include <mutex>

#include "pacspull/bus/worker.hpp"
#include "pacspull/ledger/mover_store.hpp"
#include "pacspull/mover/v1/mover.grpc.pb.h"
#include "pacspull/runtime/service.hpp"

namespace pacspull::services {

class MoverApp : public mover::v1::Mover::Service {
 public:
  explicit MoverApp(runtime::Context& ctx);
  void run();

  grpc::Status ListJobs(grpc::ServerContext*, const mover::v1::ListJobsRequest*, mover::v1::ListJobsResponse*) override;
  grpc::Status RetryJob(grpc::ServerContext*, const mover::v1::RetryJobRequest*, mover::v1::RetryJobResponse*) override;

 private:
  bus::Decision on_request(bus::Message& m);
  void execute_loop();
  void execute(const ledger::MoveJobRow& job);
  void wake();

  runtime::Context& ctx_;
  std::unique_ptr<ledger::Ledger> exec_ledger_;  // the executor thread's own connection
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

}  // namespace pacspull::services
