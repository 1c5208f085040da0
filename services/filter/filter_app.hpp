#pragma once
// The filter. When the checker declares a study received, the first image of each of
// its series is evaluated with the study's final instance counts (only the first image:
// evaluating every image was far too slow in the field), each verdict is recorded with
// its reason and the attributes it looked at, and the study is handed to the dispatcher.
// Rules reload from the site file when it changes; each verdict names its rule version.
#include <filesystem>
#include <memory>
#include <mutex>

#include "pacspull/bus/worker.hpp"
#include "messages.hpp"
#include "pacspull/filter/v1/filter.grpc.pb.h"
#include "pacspull/ledger/checker_store.hpp"
#include "pacspull/rules/rules.hpp"
#include "pacspull/runtime/service.hpp"

namespace pacspull::services {

class FilterApp : public filter::v1::Filter::Service {
 public:
  explicit FilterApp(runtime::Context& ctx);
  void run();

  grpc::Status Evaluate(grpc::ServerContext*, const filter::v1::EvaluateRequest*, filter::v1::Verdict*) override;
  grpc::Status Explain(grpc::ServerContext*, const filter::v1::ExplainRequest*, filter::v1::ExplainResponse*) override;
  grpc::Status ReloadRules(grpc::ServerContext*, const filter::v1::ReloadRulesRequest*,
                           filter::v1::ReloadRulesResponse*) override;
  grpc::Status Replay(grpc::ServerContext*, const filter::v1::ReplayRequest*, filter::v1::ReplayResponse*) override;

 private:
  bus::Decision on_received(bus::Message& m);
  void publish_filtered(const ledger::ReceivedWork& w, Publish how = Publish::First);
  std::shared_ptr<const rules::RuleSet> rules() const;
  // "" on success, else the error (old rules stay); recorded in the audit trail as done by `actor`.
  std::string reload(const std::string& actor = "filter");
  void maybe_reload();

  runtime::Context& ctx_;
  mutable std::mutex rules_mu_;
  std::shared_ptr<const rules::RuleSet> rules_;
  std::filesystem::file_time_type config_mtime_{};
};

}  // namespace pacspull::services
