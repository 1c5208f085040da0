// The command groups that talk to the services over gRPC, and `health`.
#include <grpcpp/generic/generic_stub.h>

#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>

#include "cli.hpp"
#include "study_state_proto.hpp"
#include "pacspull/checker/v1/checker.grpc.pb.h"
#include "pacspull/dispatcher/v1/dispatcher.grpc.pb.h"
#include "pacspull/filter/v1/filter.grpc.pb.h"
#include "pacspull/finder/v1/finder.grpc.pb.h"
#include "pacspull/mover/v1/mover.grpc.pb.h"
#include "pacspull/receiver/v1/receiver.grpc.pb.h"

namespace pacspull::pullctl {
namespace {

// grpc.health.v1.Health/Check with the empty service name (the server's overall status).
// No generated stub: Debian ships no health.proto, and the messages are one field each
// (request: string service = 1, empty; response: ServingStatus status = 1, a varint).
struct HealthAnswer {
  std::string status;  // SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, UNREACHABLE
  std::string detail;
};

HealthAnswer health_check(const std::shared_ptr<grpc::Channel>& channel, int timeout_seconds) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds));
  grpc::Slice empty(std::string{});
  grpc::ByteBuffer request(&empty, 1), response;  // zero bytes = HealthCheckRequest{service: ""}
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status s = done.get_future().get();
  if (!s.ok()) {
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      return {"UNREACHABLE", s.error_message()};
    return {"UNKNOWN", s.error_message() + " (gRPC code " + std::to_string(static_cast<int>(s.error_code())) + ")"};
  }
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  int status = 0;  // proto3: an absent field is 0 (UNKNOWN)
  if (bytes.size() >= 2 && bytes[0] == 0x08) status = static_cast<unsigned char>(bytes[1]);
  switch (status) {
    case 1: return {"SERVING", ""};
    case 2: return {"NOT_SERVING", ""};
    case 3: return {"SERVICE_UNKNOWN", ""};
    default: return {"UNKNOWN", ""};
  }
}

int cmd_health(Cli& cli, int timeout_seconds) {
  const auto& c = cli.site();
  const std::vector<std::pair<std::string, uint16_t>> svc{{"finder", c.finder.ports.grpc_port},
                                                          {"mover", c.mover.ports.grpc_port},
                                                          {"receiver", c.receiver.ports.grpc_port},
                                                          {"filter", c.filter.ports.grpc_port},
                                                          {"checker", c.checker.ports.grpc_port},
                                                          {"dispatcher", c.dispatcher.ports.grpc_port}};
  json doc{{"host", cli.host}, {"services", json::array()}};
  bool all = true;
  for (const auto& [name, port] : svc) {
    HealthAnswer a = health_check(cli.channel(port), timeout_seconds);
    all = all && a.status == "SERVING";
    json s{{"service", name}, {"port", port}, {"status", a.status}};
    if (!a.detail.empty()) s["detail"] = a.detail;
    doc["services"].push_back(s);
  }
  doc["all_serving"] = all;
  cli.emit(doc, [&] {
    for (const auto& s : doc["services"])
      std::printf("  %-11s %s:%-6u %s%s\n", s["service"].get<std::string>().c_str(), cli.host.c_str(),
                  s["port"].get<unsigned>(), s["status"].get<std::string>().c_str(),
                  s.contains("detail") ? ("  (" + s["detail"].get<std::string>() + ")").c_str() : "");
  });
  return all ? kOk : kFailed;
}

// The same name `--state` takes ("pulling").
std::string state_name(common::v1::StudyState s) {
  const std::string_view n = services::name_of(s);
  return n.empty() ? common::v1::StudyState_Name(s) : std::string(n);
}

}  // namespace

void add_service_commands(CLI::App& app, Cli& cli) {
  static int health_timeout = 3;
  auto* health = app.add_subcommand("health", "grpc.health.v1 status of every service: exit 0 only if all SERVING");
  health->add_option("--timeout", health_timeout, "seconds to wait for each service")->capture_default_str();
  health->callback([&] { cli.rc = cmd_health(cli, health_timeout); });

  // finder
  auto* finder = app.add_subcommand("finder", "C-FIND polling")->require_subcommand(1);
  finder->add_subcommand("poll", "run a poll cycle now")->callback([&] {
    auto stub = finder::v1::Finder::NewStub(cli.channel(cli.site().finder.ports.grpc_port));
    finder::v1::PollNowResponse r;
    if ((cli.rc = cli.check(stub->PollNow(rpc_context(300).get(), {}, &r), "finder poll"))) return;
    json doc{{"found", r.studies_found()}, {"new", r.studies_new()}, {"queued", r.studies_stable()},
             {"errors", std::vector<std::string>(r.errors().begin(), r.errors().end())}};
    cli.emit(doc, [&] {
      std::cout << "found " << r.studies_found() << ", new " << r.studies_new() << ", queued " << r.studies_stable()
                << "\n";
      for (const auto& e : r.errors()) std::cout << "  error: " << e << "\n";
    });
  });
  static std::string pull_key;
  auto* pull = finder->add_subcommand("pull", "a doctor's pull: outranks all automatic pulls");
  pull->add_option("key", pull_key, "StudyInstanceUID, AccessionNumber or PatientID")->required();
  pull->callback([&] {
    auto stub = finder::v1::Finder::NewStub(cli.channel(cli.site().finder.ports.grpc_port));
    finder::v1::RequestPullRequest req;
    req.set_study_instance_uid(pull_key);
    finder::v1::RequestPullResponse r;
    if ((cli.rc = cli.check(stub->RequestPull(rpc_context().get(), req, &r), "finder pull"))) return;
    cli.emit(json{{"message", r.message()}}, [&] { std::cout << r.message() << "\n"; });
  });
  static std::string list_date, list_state, list_mod;
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
      const auto st = pipeline::parse_state(list_state);
      if (!st) {
        cli.rc = cli.fail(kNotFound, "unknown state " + list_state);
        return;
      }
      req.set_state(services::to_proto(*st));
    }
    finder::v1::ListStudiesResponse r;
    if ((cli.rc = cli.check(stub->ListStudies(rpc_context().get(), req, &r), "finder list"))) return;
    json doc{{"studies", json::array()}};
    for (const auto& s : r.studies())
      doc["studies"].push_back({{"study_instance_uid", s.study().study_instance_uid()},
                                {"state", state_name(s.state())},
                                {"modalities", s.modalities()},
                                {"accession_number", s.study().accession_number()},
                                {"pacs_instances", s.pacs_instances()},
                                {"received_instances", s.received_instances()},
                                {"exam_time", s.exam_time().seconds()}});
    cli.emit(doc, [&] {
      for (const auto& s : r.studies())
        std::printf("%-64s %-12s %-8s %-16s pacs %4lld have %4lld  %s\n", s.study().study_instance_uid().c_str(),
                    state_name(s.state()).c_str(), s.modalities().c_str(), s.study().accession_number().c_str(),
                    static_cast<long long>(s.pacs_instances()), static_cast<long long>(s.received_instances()),
                    when(s.exam_time().seconds()).c_str());
    });
  });

  // mover
  auto* mover = app.add_subcommand("mover", "C-MOVE jobs")->require_subcommand(1);
  static std::string job_status;
  auto* jobs = mover->add_subcommand("jobs", "move jobs, newest first");
  jobs->add_option("--status", job_status, "pending, running, done, failed, superseded");
  jobs->callback([&] {
    auto stub = mover::v1::Mover::NewStub(cli.channel(cli.site().mover.ports.grpc_port));
    mover::v1::ListJobsRequest req;
    req.set_status(job_status);
    mover::v1::ListJobsResponse r;
    if ((cli.rc = cli.check(stub->ListJobs(rpc_context().get(), req, &r), "mover jobs"))) return;
    json doc{{"jobs", json::array()}};
    for (const auto& j : r.jobs())
      doc["jobs"].push_back({{"id", j.id()}, {"status", j.status()}, {"study_instance_uid", j.study_instance_uid()},
                             {"pacs", j.pacs()}, {"generation", j.generation()}, {"attempts", j.attempts()},
                             {"priority", j.priority()}, {"completed", j.completed()}, {"failed", j.failed()},
                             {"last_error", j.last_error()}});
    cli.emit(doc, [&] {
      for (const auto& j : r.jobs())
        std::printf("%6lld %-10s %-64s %-8s gen %d try %d prio %d ok %d fail %d %s\n", static_cast<long long>(j.id()),
                    j.status().c_str(), j.study_instance_uid().c_str(), j.pacs().c_str(), j.generation(), j.attempts(),
                    j.priority(), j.completed(), j.failed(), j.last_error().c_str());
    });
  });
  static long long job_id = 0;
  auto* retry = mover->add_subcommand("retry", "re-queue a failed job");
  retry->add_option("id", job_id)->required();
  retry->callback([&] {
    auto stub = mover::v1::Mover::NewStub(cli.channel(cli.site().mover.ports.grpc_port));
    mover::v1::RetryJobRequest req;
    req.set_id(job_id);
    mover::v1::RetryJobResponse r;
    if ((cli.rc = cli.check(stub->RetryJob(rpc_context().get(), req, &r), "mover retry"))) return;
    cli.emit(json{{"id", job_id}, {"requeued", r.requeued()}}, [&] {
      std::cout << (r.requeued() ? "re-queued\n" : "not re-queued (only failed or superseded jobs)\n");
    });
  });

  // receiver
  auto* receiver = app.add_subcommand("receiver", "C-STORE SCP")->require_subcommand(1);
  receiver->add_subcommand("status", "counters of the replica answering")->callback([&] {
    auto stub = receiver::v1::Receiver::NewStub(cli.channel(cli.site().receiver.ports.grpc_port));
    receiver::v1::GetStatusResponse r;
    if ((cli.rc = cli.check(stub->GetStatus(rpc_context().get(), {}, &r), "receiver status"))) return;
    json doc{{"instance_id", r.instance_id()}, {"ae_title", r.ae_title()}, {"dicom_port", r.dicom_port()},
             {"instances_stored", r.instances_stored()}, {"instances_failed", r.instances_failed()},
             {"associations", r.associations()}, {"storage_root", r.storage_root()}};
    cli.emit(doc, [&] {
      std::cout << r.instance_id() << ": AE " << r.ae_title() << " port " << r.dicom_port() << ", stored "
                << r.instances_stored() << ", failed " << r.instances_failed() << ", associations "
                << r.associations() << ", storage " << r.storage_root() << "\n";
    });
  });

  // filter
  auto* filter = app.add_subcommand("filter", "the rules")->require_subcommand(1);
  static std::string explain_file, explain_series;
  auto* explain = filter->add_subcommand("explain", "the full decision for a DICOM file or a ledger series");
  explain->add_option("file", explain_file, "DICOM file (readable by the filter service)");
  explain->add_option("--series", explain_series, "SeriesInstanceUID in the ledger");
  explain->callback([&] {
    auto stub = filter::v1::Filter::NewStub(cli.channel(cli.site().filter.ports.grpc_port));
    filter::v1::ExplainRequest req;
    if (!explain_file.empty()) req.set_file_path(std::filesystem::absolute(explain_file).string());
    req.set_series_instance_uid(explain_series);
    filter::v1::ExplainResponse r;
    if ((cli.rc = cli.check(stub->Explain(rpc_context().get(), req, &r), "filter explain"))) return;
    const auto& v = r.verdict();
    json looked = json::object();
    for (const auto& [k, val] : v.looked_at()) looked[k] = val;
    json doc{{"pass", v.pass()}, {"reason", v.reason()}, {"rule", v.rule()}, {"family", v.family()},
             {"rule_version", v.rule_version()}, {"charset_reading", v.charset_reading()}, {"looked_at", looked}};
    cli.emit(doc, [&] {
      std::cout << (v.pass() ? "PASS" : "FILTERED") << "  " << v.reason() << "\n  rule " << v.rule() << ", family "
                << v.family() << ", rules version " << v.rule_version() << "\n";
      if (!v.charset_reading().empty()) std::cout << "  matched in reading: " << v.charset_reading() << "\n";
      std::cout << "  looked at:\n";
      for (const auto& [k, val] : v.looked_at()) std::cout << "    " << k << " = " << val << "\n";
    });
  });
  filter->add_subcommand("reload", "reload the rules from the site file")->callback([&] {
    auto stub = filter::v1::Filter::NewStub(cli.channel(cli.site().filter.ports.grpc_port));
    filter::v1::ReloadRulesResponse r;
    if ((cli.rc = cli.check(stub->ReloadRules(rpc_context().get(), {}, &r), "filter reload"))) return;
    cli.emit(json{{"rule_version", r.rule_version()}, {"error", r.error()}}, [&] {
      std::cout << "rules version " << r.rule_version() << "\n";
      if (!r.error().empty()) std::cout << "rejected: " << r.error() << "\n";
    });
    if (!r.error().empty()) cli.rc = kFailed;
  });
  static std::string replay_file;
  static int replay_days = 7;
  auto* replay = filter->add_subcommand("replay", "which verdicts of the last N days a candidate rule set would change");
  replay->add_option("rules", replay_file, "YAML file with a top-level rules: section")->required();
  replay->add_option("--days", replay_days, "series received in the last N days")->capture_default_str();
  replay->callback([&] {
    auto stub = filter::v1::Filter::NewStub(cli.channel(cli.site().filter.ports.grpc_port));
    filter::v1::ReplayRequest req;
    req.set_candidate_rules_path(std::filesystem::absolute(replay_file).string());
    req.set_days(replay_days);
    filter::v1::ReplayResponse r;
    if ((cli.rc = cli.check(stub->Replay(rpc_context(600).get(), req, &r), "filter replay"))) return;
    json doc{{"current_rule_version", r.current_rule_version()}, {"candidate_rule_version", r.candidate_rule_version()},
             {"series_evaluated", r.series_evaluated()}, {"unreadable", r.unreadable()}, {"changes", json::array()}};
    for (const auto& c : r.changes())
      doc["changes"].push_back({{"study_instance_uid", c.study_instance_uid()},
                                {"series_instance_uid", c.series_instance_uid()}, {"modality", c.modality()},
                                {"was_pass", c.was_pass()}, {"now_pass", c.now_pass()}, {"was_reason", c.was_reason()},
                                {"now_reason", c.now_reason()}});
    cli.emit(doc, [&] {
      std::cout << "rules " << r.current_rule_version() << " -> " << r.candidate_rule_version() << ": "
                << r.series_evaluated() << " series evaluated, " << r.unreadable() << " unreadable, "
                << r.changes_size() << " verdicts would change\n";
      for (const auto& c : r.changes())
        std::cout << "  " << c.study_instance_uid() << " / " << c.series_instance_uid() << " (" << c.modality()
                  << "): " << (c.was_pass() ? "pass" : "fail") << " -> " << (c.now_pass() ? "pass" : "fail") << "  ["
                  << c.was_reason() << "] -> [" << c.now_reason() << "]\n";
    });
  });

  // checker
  auto* checker = app.add_subcommand("checker", "completeness checker")->require_subcommand(1);
  checker->add_subcommand("check", "run a completeness scan now")->callback([&] {
    auto stub = checker::v1::Checker::NewStub(cli.channel(cli.site().checker.ports.grpc_port));
    checker::v1::CheckNowResponse r;
    if ((cli.rc = cli.check(stub->CheckNow(rpc_context().get(), {}, &r), "checker check"))) return;
    cli.emit(json{{"received", r.received()}, {"repulled", r.repulled()}, {"waiting", r.waiting()}}, [&] {
      std::cout << "received " << r.received() << ", re-pulled " << r.repulled() << ", waiting " << r.waiting()
                << "\n";
    });
  });

  // dispatcher
  auto* dispatcher = app.add_subcommand("dispatcher", "hand-off to the AI node")->require_subcommand(1);
  static std::string disp_study;
  auto* dlist = dispatcher->add_subcommand("list", "dispatches, newest first");
  dlist->add_option("--study", disp_study, "StudyInstanceUID");
  dlist->callback([&] {
    auto stub = dispatcher::v1::Dispatcher::NewStub(cli.channel(cli.site().dispatcher.ports.grpc_port));
    dispatcher::v1::ListDispatchesRequest req;
    req.set_study_instance_uid(disp_study);
    dispatcher::v1::ListDispatchesResponse r;
    if ((cli.rc = cli.check(stub->ListDispatches(rpc_context().get(), req, &r), "dispatcher list"))) return;
    json doc{{"dispatches", json::array()}};
    for (const auto& d : r.dispatches())
      doc["dispatches"].push_back({{"id", d.id()}, {"status", d.status()},
                                   {"study_instance_uid", d.study_instance_uid()}, {"instances", d.instances()},
                                   {"at", d.at().seconds()}, {"reason", d.reason()}, {"target", d.target()},
                                   {"version", d.version()}});
    cli.emit(doc, [&] {
      for (const auto& d : r.dispatches())
        std::printf("%6lld %-8s %-12s v%-3d %-64s %4d instances  %s  %s\n", static_cast<long long>(d.id()),
                    d.status().c_str(), d.target().c_str(), d.version(), d.study_instance_uid().c_str(), d.instances(),
                    when(d.at().seconds()).c_str(), d.reason().c_str());
    });
  });
}

}  // namespace pacspull::pullctl
