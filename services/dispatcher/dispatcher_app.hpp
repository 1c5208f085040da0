#pragma once
// The dispatcher. For a filtered study it plans, per target (site file `targets:`, or the
// one `ai_node:`), what to hand on (CT: one thin axial chest series; DX/CR: the whole
// study; only the rule families the target takes), and queues one dispatch per target in
// the ledger. Per target, `window` executors take the queue by priority then exam time (an
// urgent study overtakes a backlog; the target always has work while work waits), C-STORE
// the instances (a de-identified and/or converted copy when the target asks for it; the
// store's original is never modified), recording each confirmed instance so a restart
// resends only the rest; bus-only targets get the event alone. The last dispatch of a
// generation to finish marks the study completed; each dispatch's event (study, series,
// files, priority, target, version) goes to the outbox in the same transaction, published by
// the OutboxRelay until the bus acknowledges it. A study that comes round again (late
// series) is re-dispatched to a target only when the new selection is better for it.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "pacspull/bus/worker.hpp"
#include "pacspull/dispatcher/v1/dispatcher.grpc.pb.h"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/ledger/dispatcher_store.hpp"
#include "pacspull/pipeline/dispatch_plan.hpp"
#include "pacspull/runtime/service.hpp"
#include "outbox_relay.hpp"

namespace pacspull::services {

class DispatcherApp : public dispatcher::v1::Dispatcher::Service {
 public:
  explicit DispatcherApp(runtime::Context& ctx);
  void run();
  grpc::Status ListDispatches(grpc::ServerContext*, const dispatcher::v1::ListDispatchesRequest*,
                              dispatcher::v1::ListDispatchesResponse*) override;
  // The handler of pacspull.study.filtered for one decoded message: plans per target and
  // queues the dispatches, or settles the study (unsupported / nothing new). Idempotent:
  // a stale, settled or already queued generation is acknowledged and changes nothing.
  // Uses the ledger only (tests call it directly).
  bus::Decision on_filtered(const events::v1::StudyReceived& msg);

 private:
  using Target = config::SiteConfig::Target;
  bus::Decision on_filtered(bus::Message& m);
  // One executor of `target`'s queue: claims, sends, finishes, until stop.
  void execute(const Target& target);
  // Sends what is unsent of the dispatch; false (with `why`) when the target did not take it all.
  bool send(ledger::Ledger& db, const ledger::ClaimedDispatch& d, const Target& t, std::string& why);
  void finish(ledger::Ledger& db, const ledger::ClaimedDispatch& d, const Target& t);

  runtime::Context& ctx_;
  std::unique_ptr<OutboxRelay> relay_;
  std::string holder_;  // "<host>:<pid>": whose leases these are
  std::mutex mu_;
  std::condition_variable work_;  // a dispatch was queued, or stop
  bool stopping_ = false;
};

}  // namespace pacspull::services
