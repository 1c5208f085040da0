#pragma once
// What to retrieve and from where: the order in which the PACS holding a study are tried
// (failover), the re-pull of exactly what is missing, whether to ask a PACS series by series
// or for the whole study (series-level C-MOVE, issue 9 part 6), and when a C-MOVE the PACS
// cannot deliver to us is retried by C-GET (`retrieve: auto`). Pure: no I/O.
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pacspull/pipeline/outcome.hpp"

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

// --- Series level (issue 9 part 6) ---------------------------------------------------------
// A job may name series (the finder's series filter, a manual pull). Some PACS do not
// retrieve at series level; `series_move` (PacsCapabilities: pinned by the site, or learned
// here) says so. Known false: the whole study is retrieved instead (the filter drops the
// extra series, the checker counts at least what it expects). Unknown: the series are asked
// for, and the answers teach the capability.

// Whether a failed series-level retrieval may mean "this PACS does not retrieve at series
// level": 0xA900 (identifier does not match SOP class), 0xCxxx (unable to process) and the
// other refusal statuses (e.g. 0xAA00, 0x0122). Never A801 (our AE unknown), A7xx (out of
// resources), B000, cancel, nor an association or network failure: those say nothing about
// the level.
bool refuses_series_level(const Outcome& o);

// Whether to ask for the named series one by one (true) or for the whole study: only a PACS
// known not to retrieve at series level gets the whole study.
bool retrieve_by_series(const std::optional<bool>& series_move);

// After one series-level retrieval of a job failed with `o`: go on with the job's next series
// (true) or stop with `o` (false). While the capability is unknown a refusal is evidence to
// gather (every series refused means the level, one refused among delivered ones means that
// series); a PACS known to retrieve series stops at the first failure as for any retrieval.
bool continue_after_series(const std::optional<bool>& series_move, const Outcome& o);

// One series-level retrieval of a job and what it delivered.
struct SeriesRetrieval {
  Outcome outcome;
  int completed = 0;  // sub-operations completed (instances sent)
};

// What the series-level retrievals of one job (one PACS, one attempt) teach, and what to do.
struct SeriesLevelDecision {
  std::optional<bool> learn;  // record series_move now (only when it was unknown)
  // Retrieve the whole study now, in the same attempt: every series was refused (or sent
  // nothing) and none delivered, on a PACS not known to retrieve series.
  bool whole_study = false;
  // With whole_study: record series_move = false once the study-level retrieval delivers
  // (a PACS that sends the study but refused each of its series does not do series level;
  // one that refuses the study too has another problem, and nothing is learned).
  bool learn_false_if_study_delivers = false;
  std::string reason;  // for the log line and the event
};
SeriesLevelDecision judge_series_retrievals(const std::optional<bool>& series_move,
                                            const std::vector<SeriesRetrieval>& done);

// --- Retrieval method (issue 9 part 6) ----------------------------------------------------
// `pacs[].retrieve`: move (C-MOVE to our receiver, default), get (C-GET on our association),
// auto (C-MOVE; C-GET when the PACS does not know our AE and is known to do C-GET).
enum class RetrieveSetting { Move, Get, Auto };
std::optional<RetrieveSetting> parse_retrieve_setting(std::string_view s);
const char* to_string(RetrieveSetting s);

struct GetFallback {
  bool use_get = false;  // retrieve by C-GET now, in the same attempt
  std::string reason;    // why (or, after a refusal, why not): for logs and the job's error
};
// After a C-MOVE ended with `move_outcome` having sent `move_completed` instances: only with
// `auto`, only on a PACS whose C-GET works (`c_get` probed or pinned true), and only when the
// PACS refused the move before sending anything in a way that can mean "I do not send to
// your AE": 0xA801 (move destination unknown), or 0xCxxx (unable to process: Orthanc answers
// a destination it does not know with 0xC000, not 0xA801). Out of resources, network errors,
// sub-operation failures and the rest keep the C-MOVE's outcome.
GetFallback get_fallback(RetrieveSetting setting, const std::optional<bool>& c_get, const Outcome& move_outcome,
                         int move_completed);

}  // namespace pacspull::pipeline
