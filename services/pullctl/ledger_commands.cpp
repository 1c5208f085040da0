// Commands that read (or, for `parked retry`, settle) the ledger directly: why, status,
// parked.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli.hpp"
#include "pacspull/bus/bus.hpp"
#include "pacspull/core/time.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/timeline.hpp"
#include "pacspull/runtime/service.hpp"
#include "pacspull/pipeline/progress.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::pullctl {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

int cmd_why(Cli& cli, const std::string& key) {
  ledger::Ledger l(cli.site().ledger_url);
  auto studies = l.transact([&](pqxx::work& w) { return ledger::why(w, key); });
  if (studies.empty()) {
    const std::string msg = "not found: no study in the ledger has StudyInstanceUID, AccessionNumber or PatientID '" +
                            key + "'.";
    const std::string hint = "Either the finder never saw it (check the date window, modalities and the PACS), or it "
                             "is not on any configured PACS.";
    cli.emit(json{{"key", key}, {"found", false}, {"explanation", msg + " " + hint}, {"studies", json::array()}},
             [&] { std::cout << msg << "\n" << hint << "\n"; });
    return kNotFound;
  }
  json doc{{"key", key}, {"found", true}, {"studies", json::array()}};
  for (const auto& t : studies) {
    json s{{"study_instance_uid", t.study_uid}, {"accession_number", t.accession_number}, {"patient_id", t.patient_id},
           {"study_date", t.study_date}, {"modalities", t.modalities}, {"state", t.state},
           {"generation", t.generation}, {"pacs_instances", t.pacs_instances < 0 ? json(nullptr) : json(t.pacs_instances)},
           {"received_instances", t.received_instances}, {"locations", t.locations}, {"events", json::array()},
           {"raw_texts", json::array()}, {"conflicts", json::array()}, {"priority", t.priority},
           {"ris_orders", json::array()}, {"ris_day_body_parts", t.ris_day_body_parts},
           {"ris_rule", {{"decision", t.ris_decision}, {"detail", t.ris_detail}}}};
    for (const auto& o : t.ris_orders) {
      json cancelled = json::array();
      for (const auto& c : o.cancelled_steps)
        cancelled.push_back({{"step", c.step_key}, {"status", c.status}, {"body_parts", c.body_parts},
                             {"priority", c.priority}, {"cancelled_at", c.cancelled_at}});
      s["ris_orders"].push_back({{"ris", o.ris}, {"accession_number", o.accession}, {"priority", o.priority},
                                 {"urgent", o.urgent}, {"body_parts", o.body_parts}, {"scheduled_date", o.scheduled_date},
                                 {"scheduled_at", o.scheduled_at}, {"steps", o.steps}, {"cancelled_steps", cancelled}});
    }
    for (const auto& e : t.events)
      s["events"].push_back({{"at", e.at}, {"service", e.service}, {"kind", e.kind}, {"series_instance_uid", e.series_uid},
                             {"detail", e.detail}});
    for (const auto& r : t.raw_texts)
      s["raw_texts"].push_back({{"series_instance_uid", r.series_uid}, {"attribute", r.attribute}, {"raw_hex", r.raw_hex},
                                {"specific_character_set", r.specific_character_set}, {"decoded", r.decoded},
                                {"source", r.source}});
    for (const auto& c : t.conflicts)
      s["conflicts"].push_back({{"at", c.at}, {"sop_instance_uid", c.sop_uid}, {"calling_ae", c.calling_ae},
                                {"kept_path", c.kept_path}, {"conflict_path", c.conflict_path}});
    doc["studies"].push_back(std::move(s));
  }
  cli.emit(doc, [&] {
    for (const auto& t : studies) {
      std::cout << "study " << t.study_uid << "\n  accession " << t.accession_number << ", patient " << t.patient_id
                << ", date " << t.study_date << ", modalities " << t.modalities << "\n  state " << t.state
                << " (generation " << t.generation << "), PACS count "
                << (t.pacs_instances < 0 ? std::string("unknown") : std::to_string(t.pacs_instances)) << ", received "
                << t.received_instances << "\n  found on " << (t.locations.empty() ? "-" : t.locations) << "\n";
      // The RIS's word on it (issue 9 part 9): the order(s) of its accession and the RIS rule.
      for (const auto& o : t.ris_orders) {
        std::cout << "  RIS order " << o.accession << " from " << o.ris << ": priority "
                  << (o.priority.empty() ? "-" : o.priority) << (o.urgent ? " (urgent: moved and dispatched first)" : "")
                  << ", body parts \"" << o.body_parts << "\", scheduled " << (o.scheduled_date.empty() ? "-" : o.scheduled_date)
                  << (o.scheduled_at.empty() ? "" : " (" + o.scheduled_at + " UTC)") << ", " << o.steps
                  << (o.steps == 1 ? " procedure step" : " procedure steps merged")
                  << (o.steps == 0 && !o.cancelled_steps.empty() ? " (every step cancelled: the RIS rule does not apply)" : "")
                  << "\n";
        // Cancelled at the RIS: known, shown, counted nowhere (body parts, priority, tolerance).
        for (const auto& c : o.cancelled_steps)
          std::cout << "    step " << c.step_key << " cancelled (" << c.status << ", seen " << c.cancelled_at
                    << " UTC): body parts \"" << c.body_parts << "\", priority " << (c.priority.empty() ? "-" : c.priority)
                    << ": not merged\n";
      }
      // Without a RIS in the site file and no order stored, nothing to say about the RIS.
      const bool ris_known = cli.site().ris.has_value() || !t.ris_orders.empty();
      if (t.ris_orders.empty() && !t.accession_number.empty() && ris_known)
        std::cout << "  RIS order: none known for this accession\n";
      for (const auto& d : t.ris_day_body_parts)
        std::cout << "  RIS, same patient and day (counts in rules.ris.tolerance only): \"" << d << "\"\n";
      if (!t.ris_decision.empty() && ris_known)
        std::cout << "  RIS rule: " << t.ris_decision << ": " << t.ris_detail << "\n";
      for (const auto& e : t.events) {
        std::cout << "  " << e.at << "  " << e.service << "  " << e.kind;
        if (!e.series_uid.empty()) std::cout << "  [series " << e.series_uid << "]";
        std::cout << "  " << e.detail << "\n";
      }
      if (!t.raw_texts.empty())
        std::cout << "  text as the PACS sent it (hex bytes, declared SpecificCharacterSet -> read as):\n";
      for (const auto& r : t.raw_texts)
        std::cout << "    " << (r.series_uid.empty() ? "study" : "series " + r.series_uid) << " " << r.attribute << ": "
                  << r.raw_hex << " ['" << r.specific_character_set << "'] -> \"" << r.decoded << "\" (" << r.source
                  << ")\n";
      for (const auto& c : t.conflicts)
        std::cout << "  CONFLICT " << c.at << " instance " << c.sop_uid << " arrived again from " << c.calling_ae
                  << " with other content: kept " << c.kept_path << ", second copy aside at " << c.conflict_path
                  << "\n";
    }
  });
  return kOk;
}

struct StatusOptions {
  std::string date;  // "" = today in the site's zone
  bool watch = false;
  int interval = 5;
  int window_minutes = 5;
};

json stage_json(const pipeline::StageCounts& c) {
  json states = json::object();
  for (const auto& [s, n] : c.states) states[s] = n;
  return {{"found", c.found},       {"pulled", c.pulled},   {"filtered", c.filtered},
          {"dispatched", c.dispatched}, {"done", c.done},   {"failed", c.failed},
          {"pending", c.pending()}, {"pacs_instances", c.pacs_instances},
          {"received_instances", c.received_instances}, {"states", states}};
}

std::string states_line(const pipeline::StageCounts& c) {
  static const char* order[] = {"found", "queued", "pulling", "received", "completed", "unsupported", "failed"};
  std::string out;
  for (const char* s : order) {
    auto it = c.states.find(s);
    if (it == c.states.end() || it->second == 0) continue;
    out += (out.empty() ? "" : ", ") + std::string(s) + " " + std::to_string(it->second);
  }
  return out.empty() ? "-" : out;
}

// One frame: a JSON document and its text rendering, from one ledger snapshot.
json status_frame(Cli& cli, ledger::Ledger& l, const StatusOptions& o, std::string& text) {
  const auto& site = cli.site();
  const core::Time now = core::Clock::now();
  const std::string date = o.date.empty() ? core::format_dicom_date(site.zone.to_local(now)) : o.date;
  const double window = 60.0 * o.window_minutes;
  struct Snapshot {
    std::vector<pipeline::StateRow> rows;
    pipeline::RecentActivity recent;
    std::optional<ledger::PendingStudy> oldest;
  };
  Snapshot snap = l.transact([&](pqxx::work& w) {
    return Snapshot{ledger::day_progress(w, date), ledger::recent_activity(w, date, window),
                    ledger::oldest_pending(w, date)};
  });
  const pipeline::Progress p = pipeline::fold_progress(snap.rows);
  const pipeline::Rates rates = pipeline::compute_rates(p.total, snap.recent);

  json doc{{"site", site.site}, {"date", date}, {"time_zone", site.zone.name()},
           {"local_time", core::format_civil(site.zone.to_local(now))}, {"total", stage_json(p.total)},
           {"modalities", json::object()}};
  for (const auto& [g, c] : p.by_group) doc["modalities"][g] = stage_json(c);
  doc["rates"] = {{"window_seconds", rates.window_seconds},
                  {"studies_per_minute", rates.studies_per_minute},
                  {"instances_per_second", rates.instances_per_second},
                  {"eta_seconds", rates.eta_seconds ? json(*rates.eta_seconds) : json(nullptr)}};
  if (snap.oldest) {
    const auto& s = *snap.oldest;
    doc["oldest_pending"] = {{"study_instance_uid", s.study_uid}, {"state", s.state}, {"modalities", s.modalities},
                             {"waiting_seconds", s.waiting_seconds}, {"in_state_seconds", s.in_state_seconds},
                             {"pacs_instances", s.pacs_instances < 0 ? json(nullptr) : json(s.pacs_instances)},
                             {"received_instances", s.received_instances},
                             {"last_event", s.event_kind.empty() ? json(nullptr)
                                                                 : json{{"service", s.event_service},
                                                                        {"kind", s.event_kind},
                                                                        {"detail", s.event_detail},
                                                                        {"age_seconds", s.event_age_seconds}}}};
  } else {
    doc["oldest_pending"] = nullptr;
  }

  std::ostringstream t;
  char line[256];
  t << "pacspull " << site.site << "  exam date " << date << "  (" << site.zone.name() << ", local "
    << core::format_civil(site.zone.to_local(now)) << ")\n";
  const auto& tot = p.total;
  t << "studies " << tot.found << ": found " << tot.found << " -> pulled " << tot.pulled << " -> filtered "
    << tot.filtered << " -> dispatched " << tot.dispatched << "   (done " << tot.done << ", failed " << tot.failed
    << ", pending " << tot.pending() << ")\n";
  for (const auto& [g, c] : p.by_group) {
    t << "\n  " << g << "  " << c.found << (c.found == 1 ? " study" : " studies") << ": " << states_line(c) << "\n";
    std::snprintf(line, sizeof line, "    %-11s %s\n", "pulled", pipeline::progress_bar(c.pulled, c.found).c_str());
    t << line;
    std::snprintf(line, sizeof line, "    %-11s %s\n", "filtered", pipeline::progress_bar(c.filtered, c.found).c_str());
    t << line;
    // Studies filtered out (unsupported) are never dispatched: the bar counts the others.
    const long unsupported = c.states.count("unsupported") ? c.states.at("unsupported") : 0;
    std::snprintf(line, sizeof line, "    %-11s %s\n", "dispatched",
                  pipeline::progress_bar(c.dispatched, c.found - unsupported).c_str());
    t << line;
    std::snprintf(line, sizeof line, "    %-11s %s\n", "instances",
                  pipeline::progress_bar(c.received_instances, c.pacs_instances).c_str());
    t << line;
  }
  if (p.by_group.empty()) t << "\n  no study of " << date << " in the ledger yet\n";
  std::snprintf(line, sizeof line, "\nrates (last %s): %.1f studies/min, %.1f instances/s   ETA %s\n",
                pipeline::format_duration(rates.window_seconds).c_str(), rates.studies_per_minute,
                rates.instances_per_second,
                rates.eta_seconds ? pipeline::format_duration(*rates.eta_seconds).c_str() : "unknown (nothing moved)");
  t << line;
  if (snap.oldest) {
    const auto& s = *snap.oldest;
    t << "oldest pending: " << s.study_uid << " (" << s.modalities << ", " << s.state << " for "
      << pipeline::format_duration(s.in_state_seconds) << ", found " << pipeline::format_duration(s.waiting_seconds)
      << " ago, " << s.received_instances << "/"
      << (s.pacs_instances < 0 ? std::string("?") : std::to_string(s.pacs_instances)) << " instances)\n";
    if (s.event_kind.empty())
      t << "  no event recorded yet\n";
    else
      t << "  waits after: " << s.event_service << " " << s.event_kind << " "
        << pipeline::format_duration(s.event_age_seconds) << " ago: " << s.event_detail << "\n";
  } else {
    t << "oldest pending: none\n";
  }
  text = t.str();
  return doc;
}

int cmd_status(Cli& cli, const StatusOptions& o) {
  if (!o.date.empty() && (o.date.size() != 8 || o.date.find_first_not_of("0123456789") != std::string::npos))
    return cli.fail(kNotFound, "status: --date wants YYYYMMDD, not '" + o.date + "'");
  ledger::Ledger l(cli.site().ledger_url);
  if (!o.watch) {
    std::string text;
    json doc = status_frame(cli, l, o, text);
    cli.emit(doc, [&] { std::cout << text; });
    return kOk;
  }
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  while (!g_interrupted) {
    std::string text;
    json doc = status_frame(cli, l, o, text);
    if (cli.json_output()) {
      std::cout << doc.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;  // one document per line
    } else {
      std::cout << "\033[H\033[2J" << text << "\n(every " << o.interval << " s; Ctrl-C to stop)" << std::endl;
    }
    // Redraw cadence for a person watching; Ctrl-C is seen within 100 ms.
    for (int i = 0; i < o.interval * 10 && !g_interrupted; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return kOk;
}

int cmd_parked_list(Cli& cli) {
  ledger::Ledger l(cli.site().ledger_url);
  auto rows = l.transact([&](pqxx::work& w) { return ledger::parked_messages(w); });
  json doc{{"parked", json::array()}};
  for (const auto& r : rows)
    doc["parked"].push_back({{"id", r.id}, {"at", r.at}, {"service", r.service}, {"subject", r.subject},
                             {"bytes", r.bytes}, {"reason", r.reason}});
  cli.emit(doc, [&] {
    if (rows.empty()) std::cout << "no parked messages\n";
    for (const auto& r : rows)
      std::printf("%6lld  %s  %-10s %-26s %6ld bytes  %s\n", r.id, r.at.c_str(), r.service.c_str(), r.subject.c_str(),
                  r.bytes, r.reason.c_str());
  });
  return kOk;
}

// Re-publishes a parked payload on its subject and deletes the row, in one ledger
// transaction: the row is locked while publishing and deleted only if the bus stored the
// message; if the commit then fails the message may be delivered and still listed, and
// a second retry delivers it again, which the idempotent consumers absorb.
int cmd_parked_retry(Cli& cli, long long id) {
  const auto& site = cli.site();
  ledger::Ledger l(site.ledger_url);
  bus::Options bo = runtime::bus_options(site, "pacspull-pullctl");  // credentials and TLS too
  bo.connect_attempts = 2;
  std::unique_ptr<bus::Bus> b;
  try {
    b = bus::Bus::connect(bo);
  } catch (const std::exception& e) {
    return cli.fail(kFailed, std::string("parked retry: bus unreachable: ") + e.what());
  }
  struct Outcome {
    bool found = false;
    std::string subject;
    bus::PublishResult published;
  };
  Outcome out;
  try {
    out = l.transact([&](pqxx::work& w) {
      Outcome o;
      auto p = ledger::lock_parked(w, id);
      if (!p) return o;
      o.found = true;
      o.subject = p->subject;
      const std::string msg_id = "parked." + std::to_string(id) + "." +
                                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count());
      o.published = b->publish(p->subject, p->payload, msg_id);
      if (!o.published.ok()) throw std::runtime_error("the bus did not take it (" +
                                                      std::string(bus::to_string(o.published.status)) + ": " +
                                                      o.published.error + "); the message stays parked");
      ledger::delete_parked(w, id);
      return o;
    });
  } catch (const std::exception& e) {
    return cli.fail(kFailed, "parked retry " + std::to_string(id) + ": " + rules::Text::from_utf8(e.what()).str());
  }
  if (!out.found) return cli.fail(kNotFound, "parked retry: no parked message with id " + std::to_string(id));
  cli.emit(json{{"id", id}, {"subject", out.subject}, {"republished", true}, {"sequence", out.published.sequence}},
           [&] { std::cout << "re-published parked message " << id << " on " << out.subject << " and removed it\n"; });
  return kOk;
}

}  // namespace

void add_ledger_commands(CLI::App& app, Cli& cli) {
  static std::string key;
  auto* why = app.add_subcommand("why", "a study's timeline from the ledger: found where, stable when, moved, "
                                        "received, filtered (and why), dispatched");
  why->add_option("key", key, "StudyInstanceUID, AccessionNumber or PatientID")->required();
  why->callback([&] { cli.rc = cmd_why(cli, key); });

  static StatusOptions so;
  auto* status = app.add_subcommand("status", "a day's pull: found -> pulled -> filtered -> dispatched per modality, "
                                              "rates, ETA, the oldest pending study");
  status->add_option("--date", so.date, "exam date YYYYMMDD (default: today in the site's time zone)");
  status->add_flag("-w,--watch", so.watch, "redraw every --interval seconds until Ctrl-C");
  status->add_option("--interval", so.interval, "seconds between redraws")->capture_default_str()->check(CLI::Range(1, 3600));
  status->add_option("--window", so.window_minutes, "minutes the rates are measured over")
      ->capture_default_str()
      ->check(CLI::Range(1, 1440));
  status->callback([&] { cli.rc = cmd_status(cli, so); });

  auto* parked = app.add_subcommand("parked", "messages a consumer could not handle")->require_subcommand(1);
  parked->add_subcommand("list", "parked messages, oldest first")->callback([&] { cli.rc = cmd_parked_list(cli); });
  static long long parked_id = 0;
  auto* pretry = parked->add_subcommand("retry", "re-publish a parked message on its subject and remove it");
  pretry->add_option("id", parked_id)->required();
  pretry->callback([&] { cli.rc = cmd_parked_retry(cli, parked_id); });
}

}  // namespace pacspull::pullctl
