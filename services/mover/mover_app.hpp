#pragma once
// The mover. Move requests from the bus become rows of `move_jobs` (acked once
// committed); by default one executor thread runs them synchronously, one at a time, in
// priority then exam-time order (mover.max_parallel_moves: N executors, at most the PACS's
// window of moves at once per PACS, adaptive: halved when it refuses or slows): one study at a time keeps the AI backend computing steadily
// instead of starving it and then flooding it. Jobs left running by a crash are run
// again at start-up (the receiver is idempotent): a job is leased to its mover, renewed while it
// runs; a mover starting takes back its own and those whose lease ran out. While every
// receiver refuses (the shared store over its high watermark) no move starts.
//
// Each attempt yields one pipeline::Outcome (ok / retryable / permanent, with its class):
// a permanent one fails the job at once. The study is retrieved from the PACS that has it
// complete (pipeline::order_sources of its locations); a PACS that refuses, is
// unreachable or answers A7xx/A8xx is followed at once by the next that has it, then by
// the other configured PACS that answer a C-FIND for the study. Per PACS, `retrieve: get`
// uses C-GET (instances written and recorded by the mover exactly as the receiver does);
// `retrieve: auto` moves, and retrieves by C-GET in the same attempt when the PACS refuses the
// move before sending anything (0xA801 destination unknown; 0xCxxx, which Orthanc answers for
// a destination it does not know) and its c_get capability (pacs_capabilities, merged with
// the site's pins) is true (pipeline::get_fallback).
// A job naming series moves each series, unless the PACS's series_move is false (pinned, or
// learned): then the whole study. While series_move is unknown the answers teach it
// (pipeline::judge_series_retrievals): a series that delivers records yes; every series
// refused (A900, Cxxx, other refusals) or empty makes the mover retrieve the whole study in
// the same attempt and record no when the study comes. A re-pull (instances already held)
// lists the PACS's instances (series- and image-level C-FIND) and moves only the missing ones.
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "pacspull/bus/worker.hpp"
#include "pacspull/dicom/store_scp.hpp"
#include "pacspull/pipeline/concurrency.hpp"
#include "pacspull/pipeline/capabilities.hpp"
#include "pacspull/pipeline/outcome.hpp"
#include "pacspull/pipeline/retrieve_plan.hpp"
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
  pipeline::Outcome execute(const ledger::MoveJobRow& job);
  // PACS whose window of moves in flight is full (their jobs wait), and the bookkeeping
  // after a job: in-flight count down, window adapted to the outcome.
  std::vector<std::string> full_pacs();
  void finished(const std::string& pacs, const pipeline::Outcome& o);
  ledger::Ledger& exec_ledger();  // this executor thread's connection
  // One PACS: the study, its listed series, or (a re-pull) exactly what is missing, by
  // C-MOVE or C-GET as the site file says for that PACS. Adds to `attempt`.
  pipeline::Outcome retrieve_from(const ledger::MoveJobRow& job, const ledger::PacsNodeRow& node,
                                  const std::set<std::string>& held, ledger::MoveAttempt& attempt);
  // One retrieval by C-MOVE or C-GET (`get`).
  pipeline::Outcome retrieve_one(const ledger::PacsNodeRow& node, bool get, const std::string& study,
                                 const std::string& series, const std::string& sop, ledger::MoveAttempt& attempt);
  // retrieve_one as the PACS's setting says: by C-GET once `by_get`; with `auto`, a C-MOVE
  // refused before sending (0xA801, 0xCxxx) at a PACS whose C-GET works is retried by C-GET
  // (and `by_get` set, so the job's next items go by C-GET at once).
  pipeline::Outcome retrieve_item(const ledger::PacsNodeRow& node, pipeline::RetrieveSetting setting,
                                  const pipeline::PacsCapabilities& caps, bool& by_get, const std::string& study,
                                  const std::string& series, const std::string& sop, ledger::MoveAttempt& attempt);
  // What the PACS can do: its ledger row (probed by the finder, learned by the mover) with
  // the site's pins over it. Unknown for all when the ledger cannot be read.
  pipeline::PacsCapabilities capabilities_of(const std::string& pacs);
  // Records series_move learned from `pacs` (ledger, event on `study`, log, metric).
  void learn_series_move(const std::string& pacs, bool value, const std::string& why, const std::string& study);
  // The C-GET sink: the receiver's ledger rows for an instance the mover stored itself.
  dicom::StoreScp::SinkResult on_got(const dicom::StoreScp::Stored& s);
  pipeline::RetrieveSetting setting_of(const std::string& pacs) const;
  // True while every receiver heard from refuses (our store is full): claiming a move now
  // would only spend its attempts. Logs and sets pacspull_mover_store_held on a change.
  bool store_held();
  void wake();

  runtime::Context& ctx_;
  const std::string mover_id_;  // who claims move jobs (leases), stable across restarts
  bool held_ = false;           // under mu_
  std::map<std::string, int> in_flight_;               // per PACS, under mu_
  std::map<std::string, pipeline::Window> windows_;    // per PACS, under mu_
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

}  // namespace pacspull::services
