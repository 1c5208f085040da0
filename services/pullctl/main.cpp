// pullctl: the operator's CLI. One command group per service (gRPC), plus `why` and
// `status`, which read the ledger directly.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "pacspull/checker/v1/checker.grpc.pb.h"
#include "pacspull/config/site_config.hpp"
#include "pacspull/dispatcher/v1/dispatcher.grpc.pb.h"
#include "pacspull/filter/v1/filter.grpc.pb.h"
#include "pacspull/finder/v1/finder.grpc.pb.h"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/timeline.hpp"
#include "pacspull/mover/v1/mover.grpc.pb.h"
#include "pacspull/receiver/v1/receiver.grpc.pb.h"
#include "pacspull/rules/text.hpp"

using namespace pacspull;

namespace {

struct Cli {
  std::string config_path;
  std::string host = "127.0.0.1";
  std::optional<config::SiteConfig> cfg;

  const config::SiteConfig& site() {
    if (!cfg) cfg = config::load_site_config(config_path);
    return *cfg;
  }
  std::shared_ptr<grpc::Channel> channel(uint16_t port) {
    return grpc::CreateChannel(host + ":" + std::to_string(port), grpc::InsecureChannelCredentials());
  }
};

std::unique_ptr<grpc::ClientContext> rpc_context(int seconds = 30) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

int check(const grpc::Status& s, const char* what) {
  if (s.ok()) return 0;
  std::cerr << what << ": " << s.error_message() << " (gRPC code " << s.error_code() << ")\n";
  return 1;
}

std::string when(int64_t secs) {
  if (secs == 0) return "-";
  std::time_t t = secs;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

int cmd_why(Cli& cli, const std::string& key) {
  ledger::Ledger l(cli.site().ledger_url);
  auto studies = l.transact([&](pqxx::work& w) { return ledger::why(w, key); });
  if (studies.empty()) {
    std::cout << "not found: no study in the ledger has StudyInstanceUID, AccessionNumber or PatientID '" << key
              << "'.\nEither the finder never saw it (check the date window, modalities and the PACS), or it is "
                 "not on any configured PACS.\n";
    return 2;
  }
  for (const auto& t : studies) {
    std::cout << "study " << t.study_uid << "\n  accession " << t.accession_number << ", patient " << t.patient_id
              << ", date " << t.study_date << ", modalities " << t.modalities << "\n  state " << t.state
              << " (generation " << t.generation << "), PACS count "
              << (t.pacs_instances < 0 ? std::string("unknown") : std::to_string(t.pacs_instances)) << ", received "
              << t.received_instances << "\n  found on " << (t.locations.empty() ? "-" : t.locations) << "\n";
    for (const auto& e : t.events) {
      std::cout << "  " << e.at << "  " << e.service << "  " << e.kind;
      if (!e.series_uid.empty()) std::cout << "  [series " << e.series_uid << "]";
      std::cout << "  " << e.detail << "\n";
    }
    if (!t.raw_texts.empty()) std::cout << "  text as the PACS sent it (hex bytes, declared SpecificCharacterSet -> read as):\n";
    for (const auto& r : t.raw_texts)
      std::cout << "    " << (r.series_uid.empty() ? "study" : "series " + r.series_uid) << " " << r.attribute << ": "
                << r.raw_hex << " ['" << r.specific_character_set << "'] -> \"" << r.decoded << "\" (" << r.source
                << ")\n";
    for (const auto& c : t.conflicts)
      std::cout << "  CONFLICT " << c.at << " instance " << c.sop_uid << " arrived again from " << c.calling_ae
                << " with other content: kept " << c.kept_path << ", second copy aside at " << c.conflict_path
                << "\n";
  }
  return 0;
}

int cmd_status(Cli& cli, const std::string& date) {
  ledger::Ledger l(cli.site().ledger_url);
  auto counts = l.transact([&](pqxx::work& w) { return ledger::state_summary(w, date); });
  std::map<std::string, long> by_state;
  long total = 0;
  for (const auto& c : counts) {
    by_state[c.state] += c.count;
    total += c.count;
  }
  std::cout << "studies" << (date.empty() ? "" : " of " + date) << ": " << total << "\n";
  for (const auto& [s, n] : by_state) std::printf("  %-12s %ld\n", s.c_str(), n);
  for (const auto& c : counts) std::printf("    %-12s %-10s %ld\n", c.state.c_str(), c.modalities.c_str(), c.count);
  return 0;
}

int cmd_health(Cli& cli) {
  const auto& c = cli.site();
  std::vector<std::pair<std::string, uint16_t>> svc{{"finder", c.finder.ports.grpc_port},
                                                    {"mover", c.mover.ports.grpc_port},
                                                    {"receiver", c.receiver.ports.grpc_port},
                                                    {"filter", c.filter.ports.grpc_port},
                                                    {"checker", c.checker.ports.grpc_port},
                                                    {"dispatcher", c.dispatcher.ports.grpc_port}};
  int bad = 0;
  for (const auto& [name, port] : svc) {
    auto ch = cli.channel(port);
    bool up = ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(2));
    std::printf("  %-11s :%-6u %s\n", name.c_str(), port, up ? "up" : "DOWN");
    bad += up ? 0 : 1;
  }
  return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pullctl: operate a pacspull deployment"};
  Cli cli;
  const char* env_cfg = std::getenv("PACSPULL_CONFIG");
  cli.config_path = env_cfg ? env_cfg : "/etc/pacspull/site.yaml";
  app.add_option("-c,--config", cli.config_path, "site configuration (ledger URL, service ports)")
      ->capture_default_str();
  app.add_option("--host", cli.host, "host the services run on")->capture_default_str();
  app.require_subcommand(1);
  int rc = 0;

  std::string key;
  auto* why = app.add_subcommand("why", "a study's timeline from the ledger: found where, stable when, moved, "
                                        "received, filtered (and why), dispatched");
  why->add_option("key", key, "StudyInstanceUID, AccessionNumber or PatientID")->required();
  why->callback([&] { rc = cmd_why(cli, key); });

  std::string date;
  auto* status = app.add_subcommand("status", "study counts per state (and modality)");
  status->add_option("--date", date, "exam date YYYYMMDD");
  status->callback([&] { rc = cmd_status(cli, date); });

  app.add_subcommand("health", "is every service answering?")->callback([&] { rc = cmd_health(cli); });

  // finder
  auto* finder = app.add_subcommand("finder", "C-FIND polling")->require_subcommand(1);
  finder->add_subcommand("poll", "run a poll cycle now")->callback([&] {
    auto stub = finder::v1::Finder::NewStub(cli.channel(cli.site().finder.ports.grpc_port));
    finder::v1::PollNowResponse r;
    rc = check(stub->PollNow(rpc_context(300).get(), {}, &r), "finder poll");
    if (!rc) {
      std::cout << "found " << r.studies_found() << ", new " << r.studies_new() << ", queued " << r.studies_stable()
                << "\n";
      for (const auto& e : r.errors()) std::cout << "  error: " << e << "\n";
    }
  });
  std::string pull_key;
  auto* pull = finder->add_subcommand("pull", "a doctor's pull: outranks all automatic pulls");
  pull->add_option("key", pull_key, "StudyInstanceUID, AccessionNumber or PatientID")->required();
  pull->callback([&] {
    auto stub = finder::v1::Finder::NewStub(cli.channel(cli.site().finder.ports.grpc_port));
    finder::v1::RequestPullRequest req;
    req.set_study_instance_uid(pull_key);
    finder::v1::RequestPullResponse r;
    rc = check(stub->RequestPull(rpc_context().get(), req, &r), "finder pull");
    if (!rc) std::cout << r.message() << "\n";
  });
  std::string list_date, list_state, list_mod;
  auto* list = finder->add_subcommand("list", "studies in the ledger");
  list->add_option("--date", list_date, "exam date YYYYMMDD");
  list->add_option("--state", list_state, "found, queued, pulling, received, unsupported, completed, failed");
  list->add_option("--modality", list_mod, "e.g. CT");
  list->callback([&] {
    auto stub = finder::v1::Finder::NewStub(cli.channel(cli.site().finder.ports.grpc_port));
    finder::v1::ListStudiesRequest req;
    req.set_exam_date(list_date);
    req.set_modality(list_mod);
    if (!list_state.empty()) {
      std::string upper = "STUDY_STATE_";
      for (char ch : list_state) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      common::v1::StudyState st;
      if (!common::v1::StudyState_Parse(upper, &st)) {
        std::cerr << "unknown state " << list_state << "\n";
        rc = 2;
        return;
      }
      req.set_state(st);
    }
    finder::v1::ListStudiesResponse r;
    rc = check(stub->ListStudies(rpc_context().get(), req, &r), "finder list");
    for (const auto& s : r.studies())
      std::printf("%-64s %-12s %-8s %-16s pacs %4lld have %4lld  %s\n", s.study().study_instance_uid().c_str(),
                  common::v1::StudyState_Name(s.state()).substr(12).c_str(), s.modalities().c_str(),
                  s.study().accession_number().c_str(), static_cast<long long>(s.pacs_instances()),
                  static_cast<long long>(s.received_instances()), when(s.exam_time().seconds()).c_str());
  });

  // mover
  auto* mover = app.add_subcommand("mover", "C-MOVE jobs")->require_subcommand(1);
  std::string job_status;
  auto* jobs = mover->add_subcommand("jobs", "move jobs, newest first");
  jobs->add_option("--status", job_status, "pending, running, done, failed, superseded");
  jobs->callback([&] {
    auto stub = mover::v1::Mover::NewStub(cli.channel(cli.site().mover.ports.grpc_port));
    mover::v1::ListJobsRequest req;
    req.set_status(job_status);
    mover::v1::ListJobsResponse r;
    rc = check(stub->ListJobs(rpc_context().get(), req, &r), "mover jobs");
    for (const auto& j : r.jobs())
      std::printf("%6lld %-10s %-64s %-8s gen %d try %d prio %d ok %d fail %d %s\n", static_cast<long long>(j.id()),
                  j.status().c_str(), j.study_instance_uid().c_str(), j.pacs().c_str(), j.generation(), j.attempts(),
                  j.priority(), j.completed(), j.failed(), j.last_error().c_str());
  });
  long long job_id = 0;
  auto* retry = mover->add_subcommand("retry", "re-queue a failed job");
  retry->add_option("id", job_id)->required();
  retry->callback([&] {
    auto stub = mover::v1::Mover::NewStub(cli.channel(cli.site().mover.ports.grpc_port));
    mover::v1::RetryJobRequest req;
    req.set_id(job_id);
    mover::v1::RetryJobResponse r;
    rc = check(stub->RetryJob(rpc_context().get(), req, &r), "mover retry");
    if (!rc) std::cout << (r.requeued() ? "re-queued\n" : "not re-queued (only failed or superseded jobs)\n");
  });

  // receiver
  auto* receiver = app.add_subcommand("receiver", "C-STORE SCP")->require_subcommand(1);
  receiver->add_subcommand("status", "counters of the replica answering")->callback([&] {
    auto stub = receiver::v1::Receiver::NewStub(cli.channel(cli.site().receiver.ports.grpc_port));
    receiver::v1::GetStatusResponse r;
    rc = check(stub->GetStatus(rpc_context().get(), {}, &r), "receiver status");
    if (!rc)
      std::cout << r.instance_id() << ": AE " << r.ae_title() << " port " << r.dicom_port() << ", stored "
                << r.instances_stored() << ", failed " << r.instances_failed() << ", associations "
                << r.associations() << ", storage " << r.storage_root() << "\n";
  });

  // filter
  auto* filter = app.add_subcommand("filter", "the rules")->require_subcommand(1);
  std::string explain_file, explain_series;
  auto* explain = filter->add_subcommand("explain", "the full decision for a DICOM file or a ledger series");
  explain->add_option("file", explain_file, "DICOM file (readable by the filter service)");
  explain->add_option("--series", explain_series, "SeriesInstanceUID in the ledger");
  explain->callback([&] {
    auto stub = filter::v1::Filter::NewStub(cli.channel(cli.site().filter.ports.grpc_port));
    filter::v1::ExplainRequest req;
    if (!explain_file.empty()) req.set_file_path(std::filesystem::absolute(explain_file).string());
    req.set_series_instance_uid(explain_series);
    filter::v1::ExplainResponse r;
    rc = check(stub->Explain(rpc_context().get(), req, &r), "filter explain");
    if (rc) return;
    const auto& v = r.verdict();
    std::cout << (v.pass() ? "PASS" : "FILTERED") << "  " << v.reason() << "\n  rule " << v.rule() << ", family "
              << v.family() << ", rules version " << v.rule_version() << "\n";
    if (!v.charset_reading().empty()) std::cout << "  matched in reading: " << v.charset_reading() << "\n";
    std::cout << "  looked at:\n";
    for (const auto& [k, val] : v.looked_at()) std::cout << "    " << k << " = " << val << "\n";
  });
  filter->add_subcommand("reload", "reload the rules from the site file")->callback([&] {
    auto stub = filter::v1::Filter::NewStub(cli.channel(cli.site().filter.ports.grpc_port));
    filter::v1::ReloadRulesResponse r;
    rc = check(stub->ReloadRules(rpc_context().get(), {}, &r), "filter reload");
    if (!rc) {
      std::cout << "rules version " << r.rule_version() << "\n";
      if (!r.error().empty()) {
        std::cout << "rejected: " << r.error() << "\n";
        rc = 1;
      }
    }
  });

  std::string replay_file;
  int replay_days = 7;
  auto* replay = filter->add_subcommand("replay", "which verdicts of the last N days a candidate rule set would change");
  replay->add_option("rules", replay_file, "YAML file with a top-level rules: section")->required();
  replay->add_option("--days", replay_days, "series received in the last N days")->capture_default_str();
  replay->callback([&] {
    auto stub = filter::v1::Filter::NewStub(cli.channel(cli.site().filter.ports.grpc_port));
    filter::v1::ReplayRequest req;
    req.set_candidate_rules_path(std::filesystem::absolute(replay_file).string());
    req.set_days(replay_days);
    filter::v1::ReplayResponse r;
    rc = check(stub->Replay(rpc_context(600).get(), req, &r), "filter replay");
    if (rc) return;
    std::cout << "rules " << r.current_rule_version() << " -> " << r.candidate_rule_version() << ": "
              << r.series_evaluated() << " series evaluated, " << r.unreadable() << " unreadable, "
              << r.changes_size() << " verdicts would change\n";
    for (const auto& c : r.changes())
      std::cout << "  " << c.study_instance_uid() << " / " << c.series_instance_uid() << " (" << c.modality()
                << "): " << (c.was_pass() ? "pass" : "fail") << " -> " << (c.now_pass() ? "pass" : "fail") << "  ["
                << c.was_reason() << "] -> [" << c.now_reason() << "]\n";
  });

  // checker
  auto* checker = app.add_subcommand("checker", "completeness checker")->require_subcommand(1);
  checker->add_subcommand("check", "run a completeness scan now")->callback([&] {
    auto stub = checker::v1::Checker::NewStub(cli.channel(cli.site().checker.ports.grpc_port));
    checker::v1::CheckNowResponse r;
    rc = check(stub->CheckNow(rpc_context().get(), {}, &r), "checker check");
    if (!rc)
      std::cout << "received " << r.received() << ", re-pulled " << r.repulled() << ", waiting " << r.waiting()
                << "\n";
  });

  // dispatcher
  auto* dispatcher = app.add_subcommand("dispatcher", "hand-off to the AI node")->require_subcommand(1);
  std::string disp_study;
  auto* dlist = dispatcher->add_subcommand("list", "dispatches, newest first");
  dlist->add_option("--study", disp_study, "StudyInstanceUID");
  dlist->callback([&] {
    auto stub = dispatcher::v1::Dispatcher::NewStub(cli.channel(cli.site().dispatcher.ports.grpc_port));
    dispatcher::v1::ListDispatchesRequest req;
    req.set_study_instance_uid(disp_study);
    dispatcher::v1::ListDispatchesResponse r;
    rc = check(stub->ListDispatches(rpc_context().get(), req, &r), "dispatcher list");
    for (const auto& d : r.dispatches())
      std::printf("%6lld %-8s %-64s %4d instances  %s  %s\n", static_cast<long long>(d.id()), d.status().c_str(),
                  d.study_instance_uid().c_str(), d.instances(), when(d.at().seconds()).c_str(), d.reason().c_str());
  });

  // Arguments reach the ledger and gRPC, which take UTF-8 only: refuse anything else plainly.
  for (int i = 1; i < argc; ++i) {
    if (!rules::Text::checked(argv[i])) {
      std::cerr << "pullctl: argument " << i << " is not valid UTF-8 text (" << rules::Text::ascii(argv[i]).str()
                << "); give keys and paths in UTF-8\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "pullctl: " << e.what() << "\n";
    return 1;
  }
  return rc;
}
