#pragma once
// The finder's RIS side (issue 9 part 9): polls a RIS through DICOM Modality Worklist on a
// thread of its own and stores the orders in the ledger (ris_orders). The PACS polls never
// wait for it: a RIS that is down or hangs costs only this thread its bounded timeouts,
// logged at warn and counted in pacspull_finder_ris_errors_total. The RIS often learns of
// an exam after the PACS (emergencies): nothing waits for an order; an order that arrives
// later still raises its study's priority (ledger::upsert_ris_orders).
#include <pqxx/pqxx>

#include <string>
#include <thread>
#include <vector>

#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/runtime/service.hpp"

namespace pacspull::services {

struct RisPollSummary {
  int orders = 0, fresh = 0, raised = 0;
  int cancelled = 0;  // procedure steps the RIS answered CANCELED / DISCONTINUED (not merged)
  std::vector<std::string> errors;
};

class RisPoller {
 public:
  // ctx.config.ris must be set. Starts the polling thread at once; it ends when ctx.stop
  // is signalled (the destructor joins it: at most one query's timeouts later).
  explicit RisPoller(runtime::Context& ctx);
  ~RisPoller();
  RisPoller(const RisPoller&) = delete;
  RisPoller& operator=(const RisPoller&) = delete;

  // One worklist query and its upsert; never throws (errors are in the summary).
  RisPollSummary poll_once();

 private:
  void loop();
  runtime::Context& ctx_;
  std::unique_ptr<ledger::Ledger> ledger_;  // this thread's own connection
  std::thread thread_;
};

// In the transaction that queues a study: an urgent (STAT/HIGH) RIS order for its
// AccessionNumber raises the study's and the move request's priority, so the move, and
// the dispatch after it, go before routine work (end to end: mover and dispatcher order
// by the same priority).
void apply_ris_priority(pqxx::work& w, ledger::MoveWork& m);

}  // namespace pacspull::services
