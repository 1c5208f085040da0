#pragma once
// What to retrieve and from where: the order in which the PACS holding a study are tried
// (failover), and the re-pull of exactly what is missing. Pure: no I/O.
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pacspull::pipeline {

struct SourceCandidate {
  std::string pacs;
  std::optional<long> instances;  // the PACS's count of the study at its last poll, if it gave one
};

// The order to try: PACS that have the study complete (count >= `expected`, the study's
// count) before those that have fewer or gave no count; the requested PACS first among
// equals, then the larger count; the rest keep their order. Duplicates are dropped.
std::vector<std::string> order_sources(const std::string& requested, const std::vector<SourceCandidate>& candidates,
                                       std::optional<long> expected);

// One series as the PACS lists it at image level.
struct PacsSeries {
  std::string series_uid;
  std::vector<std::string> sop_uids;
};

struct RepullPlan {
  std::vector<std::string> whole_series;  // none of its instances are here: move the series
  struct Instance {
    std::string series_uid, sop_uid;
  };
  std::vector<Instance> instances;  // missing instances of partly received series
  size_t present = 0;               // instances of the PACS's list we already have
};

// Diff of the PACS's instance lists against the SOP instances we hold.
RepullPlan plan_repull(const std::vector<PacsSeries>& pacs, const std::set<std::string>& have);

}  // namespace pacspull::pipeline
