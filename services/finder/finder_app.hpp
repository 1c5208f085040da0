#pragma once
// The finder: every poll_interval, a study-level C-FIND on every PACS for the date
// window, "contains" modality filtering on ModalitiesInStudy, stability by unchanged
// NumberOfStudyRelatedInstances (DX at once), move requests for stable studies.
// Each PACS is probed at start-up (issue 9): one without ModalitiesInStudy or counts is
// asked at series (and image) level, its studies stable by the series fingerprint; series
// may be filtered before the move; a query that hits a result cap is split until every
// part is under it.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "messages.hpp"
#include "pacspull/finder/v1/finder.grpc.pb.h"
#include "pacspull/core/attributes.hpp"
#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/pipeline/capabilities.hpp"
#include "pacspull/pipeline/query_window.hpp"
#include "pacspull/runtime/service.hpp"

namespace pacspull::services {

struct PollSummary {
  int found = 0, fresh = 0, queued = 0;
  std::vector<std::string> errors;
};

// What the finder knows of one PACS and how it queries it.
struct PacsPlan {
  pipeline::PacsCapabilities capabilities;  // probed, then the site's pins
  pipeline::QueryPlan plan;
  bool probed = false;  // a probe answered (else re-probed next poll)
  // Whether an image-level C-FIND of this PACS answers the image header (ImageType), learnt
  // from the first one that tells; nullopt: not asked yet. Saves asking a PACS that never does.
  mutable std::optional<bool> image_header;
};

class FinderApp : public finder::v1::Finder::Service {
 public:
  explicit FinderApp(runtime::Context& ctx);
  void run();
  PollSummary poll_once();

  grpc::Status PollNow(grpc::ServerContext*, const finder::v1::PollNowRequest*, finder::v1::PollNowResponse*) override;
  grpc::Status RequestPull(grpc::ServerContext*, const finder::v1::RequestPullRequest*,
                           finder::v1::RequestPullResponse*) override;
  grpc::Status ListStudies(grpc::ServerContext*, const finder::v1::ListStudiesRequest*,
                           finder::v1::ListStudiesResponse*) override;

 private:
  void publish_move(const ledger::MoveWork& m, Publish how = Publish::First);
  void reconcile();
  // Probes one PACS (unless the site turned probing off), stores the verdict, plans.
  void probe(const config::PacsNode& pacs);
  const PacsPlan& plan_of(const config::PacsNode& pacs);
  // Study-level C-FINDs of one PACS for the window, split below its cap: study answers by uid.
  std::map<std::string, core::AttributeMap> find_studies(const config::PacsNode& pacs, const PacsPlan& plan,
                                                         const pipeline::DateWindow& window, PollSummary& summary);
  // Series-level (and image-level) C-FIND of one study: fills the study's modalities,
  // counts, fingerprint and series choice. False when the query failed.
  bool learn_series(const config::PacsNode& pacs, const PacsPlan& plan, const std::string& uid,
                    core::AttributeMap& study, ledger::FoundStudy& s, PollSummary& summary);
  // finder.sample_headers for one PACS: off; auto (C-GET probed yes); on (unless probed no).
  bool samples_headers(const PacsPlan& plan) const;
  // Where the PACS answered no image header: C-GETs ONE instance (never stored) of each CT
  // series whose verdict it could change (pipeline::wants_sample) and merges its header into
  // the series answer. A failed sample is a warning: the series moves without it.
  void sample_headers(const config::PacsNode& pacs, const std::string& uid, const core::AttributeMap& study,
                      std::vector<core::AttributeMap>& series,
                      const std::map<std::string, std::vector<core::AttributeMap>>& listed);

  runtime::Context& ctx_;
  std::mutex poll_mu_;  // one poll at a time (timer or PollNow)
  std::map<std::string, PacsPlan> plans_;  // by PACS name; under poll_mu_
  // Sampled headers by "pacs\nseries uid", kept while the series is seen by the polls (a
  // series is sampled once, not every poll); under poll_mu_.
  std::map<std::string, core::AttributeMap> samples_;
  std::set<std::string> samples_seen_;
};

}  // namespace pacspull::services
