#pragma once
// Ledger operations of the finder.
#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "pacspull/core/time.hpp"
#include "pacspull/pipeline/series_plan.hpp"
#include "pacspull/pipeline/stability.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::ledger {

struct PacsNodeRow {
  std::string name, ae_title, host;
  int port = 0;
};

struct FoundStudy {
  std::string study_uid;  // checked by the finder: printable ASCII, no spaces
  // Decoded from the C-FIND answer (rules::Text); raw bytes of non-ASCII values in `raws`.
  rules::Text accession_number, patient_id, study_date, modalities, description;
  std::vector<rules::RawText> raws;
  std::optional<core::Time> exam_time;
  std::optional<long> pacs_instances;
  bool pull_at_once = false;  // DX family
  // Every PACS that returned it this cycle, preferred (move source) first.
  std::vector<std::pair<std::string, std::optional<long>>> locations;
  // From series-level C-FIND (PACS without study-level counts or ModalitiesInStudy):
  // the series fingerprint decides stability instead of the study count.
  std::optional<std::string> fingerprint;
  std::string series_summary;  // "3 series, 120 instances" for reasons and logs
  // Series-level filtering: the series to move (empty = whole study) and why.
  std::vector<std::string> move_series;
  std::string series_reason;
  // No series can pass, every one judged on full information (pipeline::SeriesChoice
  // none_pass): when stable, the study is settled unsupported (Transition::FinderUnsupported)
  // without a move, each series' reason recorded as the filter records it.
  bool none_pass = false;
  std::vector<std::pair<std::string, std::string>> series_dropped;  // series uid, reason
};

struct MoveWork {  // what a move request names
  std::string study_uid, pacs, reason, series_uid;
  int generation = 0;
  int priority = 1;
  std::optional<core::Time> exam_time;
  std::vector<std::string> series_uids;  // series-level filtering: only these (empty = whole study)
};

struct Observed {
  pipeline::FindDecision decision;
  bool first_sight = false;      // the ledger did not know the study before
  std::optional<MoveWork> move;  // set when the study was queued for a move
  bool unsupported = false;      // settled unsupported by the finder, not moved
};

void sync_pacs_nodes(pqxx::work& w, const std::vector<PacsNodeRow>& nodes);
// Records one study of a poll and applies the stability decision in one transaction.
Observed observe_study(pqxx::work& w, const FoundStudy& s, const pipeline::StabilityPolicy& policy, core::Time now,
                       const pipeline::FingerprintPolicy& fingerprint_policy = {});
// Queues studies by hand (doctor's request) at manual priority; matches uid, accession or patient.
std::vector<MoveWork> request_manual_pull(pqxx::work& w, const rules::Text& key, int priority, core::Time now);
// Queued studies whose move request never reached the mover (no job for the generation),
// queued before now - older_than. `now` is the service's clock, never the database's.
std::vector<MoveWork> stuck_queued(pqxx::work& w, std::chrono::seconds older_than, core::Time now);

}  // namespace pacspull::ledger
