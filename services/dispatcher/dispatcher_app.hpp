#pragma once
// The dispatcher. For a filtered study it selects the series to compute (CT: one thin
// axial chest series; DX/CR: the whole study), C-STOREs them to the AI node in chunks,
// recording each chunk so a restart resends only the rest, then marks the study completed
// and writes its dispatch event (study, series, files, priority) to the ledger's outbox in
// the same transaction; the OutboxRelay publishes it until the bus acknowledges it. A study that comes round again (late series)
// is re-dispatched only when the new selection is better.
#include "pacspull/bus/worker.hpp"
#include "pacspull/dispatcher/v1/dispatcher.grpc.pb.h"
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

 private:
  bus::Decision on_filtered(bus::Message& m);
  // Sends what is unsent of the dispatch; false when the AI node did not take it all.
  bool send(long long dispatch_id, const std::string& study_uid, bus::Message& m);

  runtime::Context& ctx_;
  std::unique_ptr<OutboxRelay> relay_;
};

}  // namespace pacspull::services
