#pragma once
// Ledger operations of the completeness checker.
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/pipeline/completeness.hpp"

namespace pacspull::ledger {

struct PullingStudy {
  std::string study_uid;
  int generation = 0;
  pipeline::CompletenessInput input;
};

struct ReceivedWork {  // payload of pacspull.study.received / .filtered
  std::string study_uid;
  int generation = 0;
  long pacs_instances = 0;
  long received_instances = 0;
  bool short_ = false;
};

// Studies in `pulling`, with what the completeness decision needs.
std::vector<PullingStudy> pulling_studies(pqxx::work& w, core::Time now);
// Applies a decision taken for `s` (only if the study is still pulling at that
// generation: a concurrent change wins), stamped with s.input.now. Returns the message
// to publish, if any.
std::optional<ReceivedWork> apply_received(pqxx::work& w, const PullingStudy& s, bool short_, const std::string& why);
std::optional<MoveWork> apply_repull(pqxx::work& w, const PullingStudy& s, const std::string& why);
// Received studies the filter has not recorded for this generation, received before
// now - older_than (`now`: the service's clock).
std::vector<ReceivedWork> stuck_received(pqxx::work& w, std::chrono::seconds older_than, core::Time now);

}  // namespace pacspull::ledger
