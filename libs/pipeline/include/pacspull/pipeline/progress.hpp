#pragma once
// The arithmetic of `pullctl status`: a day's pull folded per modality group into the
// stages found -> pulled -> filtered -> dispatched, rates over a recent window, an ETA,
// and the text bars. Pure: the ledger rows come in as values, strings go out.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pacspull::pipeline {

// One ledger row group: studies of one ModalitiesInStudy value in one state.
struct StateRow {
  std::string modalities;  // as stored, e.g. "CT\PR"
  std::string state;       // found, queued, pulling, received, unsupported, completed, failed
  long studies = 0;
  long filtered = 0;       // of them, with a filter verdict recorded (filtered_generation > 0)
  long dispatched = 0;     // of them, handed to the AI node at least once
  long pacs_instances = 0;      // sum of the PACS's counts
  long received_instances = 0;  // sum of instances we hold
};

struct StageCounts {
  long found = 0, pulled = 0, filtered = 0, dispatched = 0;
  long done = 0;     // nothing left to do: completed or unsupported
  long failed = 0;
  long pacs_instances = 0, received_instances = 0;
  std::map<std::string, long> states;  // state -> studies
  long pending() const { return found - done - failed; }
};

// The group a ModalitiesInStudy value is shown under: "CT" when it contains CT, "DX" for
// the DX family (DX, DR, CR, RF, OT), else the value itself ("" -> "?").
std::string modality_group(std::string_view modalities);

struct Progress {
  std::map<std::string, StageCounts> by_group;
  StageCounts total;
};

// pulled: received or later (received, unsupported, completed, or a verdict recorded).
Progress fold_progress(const std::vector<StateRow>& rows);

// What happened in the last `window_seconds` (counted by the ledger's timestamps).
struct RecentActivity {
  double window_seconds = 300;
  double since_start_seconds = 0;  // since the day's first study was found (shorter window)
  long studies_done = 0;           // studies that reached completed/unsupported in the window
  long instances_received = 0;     // instances stored in the window
};

struct Rates {
  double window_seconds = 0;  // the window actually used
  double studies_per_minute = 0;
  double instances_per_second = 0;
  // Seconds until every pending study is done at the current pace: the larger of the
  // study-based and the instance-based estimate (whichever are known); nullopt when
  // nothing moved in the window and work is pending; 0 when nothing is pending.
  std::optional<double> eta_seconds;
};

Rates compute_rates(const StageCounts& total, const RecentActivity& recent);

// "[##########..........]  50%  12/24"; an empty total draws an empty bar and "-".
std::string progress_bar(long done, long total, int width = 20);
// "45s", "12m 05s", "3h 02m".
std::string format_duration(double seconds);

}  // namespace pacspull::pipeline
