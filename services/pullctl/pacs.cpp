// `pacs echo|test` (is this PACS configured right, and if not, what is wrong) and `audit`
// (the PACS's chest candidates of a day against the ledger).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "cli.hpp"
#include "dicom_options.hpp"
#include "pacspull/dicom/probe.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/ledger/pacs_store.hpp"
#include "pacspull/pipeline/query_window.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/timeline.hpp"
#include "pacspull/receiver/v1/receiver.grpc.pb.h"
#include "pacspull/rules/rules.hpp"
#include "pacspull/rules/text.hpp"

namespace pacspull::pullctl {
namespace {

// `pacs test` verdicts: one exit code per misconfiguration.
enum Verdict : int {
  kPacsOk = 0,
  kConnectFailed = 10,        // no TCP connection: wrong host or port, or a firewall
  kCalledAeRejected = 11,     // the PACS does not answer to the AE title we call it by
  kCallingAeRejected = 12,    // the PACS does not accept our AE title as a caller
  kAssociationRejected = 13,  // rejected for another reason (or no common presentation context)
  kEchoFailed = 14,
  kFindFailed = 15,
  kNothingToMove = 16,        // inconclusive: the PACS has no study to test a move with
  kMoveDestinationUnknown = 17,  // 0xA801: our receiver's AE title is not registered at the PACS
  kMoveFailed = 18,           // the PACS knows our AE but could not store to it
  kNothingArrived = 19,       // the PACS says it sent the instance, our receiver never got it
};

const config::PacsNode* pacs_named(const config::SiteConfig& site, const std::string& name) {
  for (const auto& p : site.pacs)
    if (p.name == name) return &p;
  return nullptr;
}

std::string where(const config::PacsNode& p) {
  return p.node.ae_title.str() + "@" + p.node.host + ":" + std::to_string(p.node.port);
}

struct Step {
  std::string name;
  bool ok = false;
  std::string detail;
  long long ms = 0;
};

// The verdict for an association or echo failure; nullopt when the echo succeeded.
std::optional<std::pair<int, std::string>> echo_verdict(const config::SiteConfig& site, const config::PacsNode& p,
                                                        const dicom::EchoResult& r) {
  if (r.ok) return std::nullopt;
  const std::string msg = r.error ? r.error->message : "";
  using S = dicom::EchoResult::Stage;
  if (r.failed_at == S::Connect)
    return std::make_pair(kConnectFailed, "cannot connect to " + p.node.host + ":" + std::to_string(p.node.port) +
                                              ": wrong host or port for PACS " + p.name +
                                              ", the PACS is down, or a firewall blocks the way (" + msg + ")");
  if (r.failed_at == S::Associate) {
    if (msg.find("Called AE Title Not Recognized") != std::string::npos)
      return std::make_pair(kCalledAeRejected, "the PACS at " + p.node.host + ":" + std::to_string(p.node.port) +
                                                   " rejected the called AE title '" + p.node.ae_title.str() +
                                                   "': the PACS's AE title in the site file is wrong (" + msg + ")");
    if (msg.find("Calling AE Title Not Recognized") != std::string::npos)
      return std::make_pair(kCallingAeRejected, "the PACS rejected our calling AE title '" +
                                                    site.local.ae_title.str() +
                                                    "': register it at the PACS (or fix local.ae_title) (" + msg + ")");
    return std::make_pair(kAssociationRejected, "the PACS rejected the association: " + msg);
  }
  return std::make_pair(kEchoFailed, "C-ECHO failed after the association was accepted: " + msg);
}

long long ms(std::chrono::milliseconds d) { return static_cast<long long>(d.count()); }

int cmd_echo(Cli& cli, const std::string& name) {
  const auto& site = cli.site();
  const config::PacsNode* p = pacs_named(site, name);
  if (!p) return cli.fail(kNotFound, "pacs echo: no PACS named '" + name + "' in " + cli.config_path);
  dicom::EchoResult r = dicom::echo(services::scu_options(site), services::peer_of(p->node));
  auto v = echo_verdict(site, *p, r);
  json doc{{"pacs", name}, {"peer", where(*p)}, {"ok", r.ok}, {"elapsed_ms", ms(r.elapsed)}};
  if (v) {
    doc["exit_code"] = v->first;
    doc["verdict"] = rules::Text::from_utf8(v->second).str();
  }
  cli.emit(doc, [&] {
    if (r.ok) std::cout << "C-ECHO " << where(*p) << ": ok (" << ms(r.elapsed) << " ms)\n";
    else std::cout << "C-ECHO " << where(*p) << ": FAILED\n  " << doc["verdict"].get<std::string>() << "\n";
  });
  return v ? v->first : kPacsOk;
}

struct TestOptions {
  std::string study;
  int wait_seconds = 30;
};

int cmd_test(Cli& cli, const std::string& name, const TestOptions& o) {
  const auto& site = cli.site();
  const config::PacsNode* p = pacs_named(site, name);
  if (!p) return cli.fail(kNotFound, "pacs test: no PACS named '" + name + "' in " + cli.config_path);
  const dicom::Peer peer = services::peer_of(p->node);
  std::vector<Step> steps;
  int code = kPacsOk;
  std::string verdict;

  auto finish = [&]() {
    json doc{{"pacs", name}, {"peer", where(*p)}, {"receiver_ae_title", site.local.receiver_ae_title.str()},
             {"ok", code == kPacsOk}, {"exit_code", code}, {"verdict", rules::Text::from_utf8(verdict).str()},
             {"steps", json::array()}};
    for (const auto& s : steps)
      doc["steps"].push_back({{"step", s.name}, {"ok", s.ok}, {"detail", rules::Text::from_utf8(s.detail).str()},
                              {"elapsed_ms", s.ms}});
    cli.emit(doc, [&] {
      std::cout << "PACS " << name << " (" << where(*p) << "), our receiver AE " << site.local.receiver_ae_title.str()
                << "\n";
      for (const auto& s : steps)
        std::printf("  %-7s %-4s %s (%lld ms)\n", s.name.c_str(), s.ok ? "ok" : "FAIL", s.detail.c_str(), s.ms);
      std::cout << (code == kPacsOk ? "OK: " : "PROBLEM: ") << verdict << "\n";
    });
    return code;
  };

  // 1. C-ECHO: can we reach it, and does it accept our association?
  dicom::EchoResult e = dicom::echo(services::scu_options(site), peer);
  steps.push_back({"echo", e.ok, e.ok ? "association accepted, C-ECHO answered" : (e.error ? e.error->message : ""),
                   ms(e.elapsed)});
  if (auto v = echo_verdict(site, *p, e)) {
    code = v->first;
    verdict = v->second;
    return finish();
  }

  // 2. C-FIND one study, then one of its series and one instance (level by level).
  auto t0 = std::chrono::steady_clock::now();
  auto since = [&] {
    return ms(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0));
  };
  core::AttributeMap keys{{"StudyInstanceUID", o.study}, {"StudyDate", ""}, {"ModalitiesInStudy", ""}};
  dicom::FindResult studies = dicom::find(services::scu_options(site, 1), peer, dicom::QueryLevel::Study, keys);
  std::string study, series, sop;
  if (!studies.error && !studies.matches.empty()) study = studies.matches.front().trimmed("StudyInstanceUID");
  dicom::FindResult series_r, images_r;
  if (!study.empty()) {
    series_r = dicom::find(services::scu_options(site, 1), peer, dicom::QueryLevel::Series,
                           {{"StudyInstanceUID", study}, {"SeriesInstanceUID", ""}});
    if (!series_r.error && !series_r.matches.empty()) series = series_r.matches.front().trimmed("SeriesInstanceUID");
  }
  if (!series.empty()) {
    images_r = dicom::find(services::scu_options(site), peer, dicom::QueryLevel::Image,
                           {{"StudyInstanceUID", study}, {"SeriesInstanceUID", series}, {"SOPInstanceUID", ""}});
  }
  const dicom::FindResult* failed = studies.error ? &studies : series_r.error ? &series_r : images_r.error ? &images_r : nullptr;
  if (failed) {
    steps.push_back({"find", false, failed->error->message, since()});
    code = kFindFailed;
    verdict = "C-FIND refused or failed: the PACS accepts our association but not our query (" +
              failed->error->message + ")";
    return finish();
  }
  // Prefer an instance our ledger does not hold yet: its arrival is then visible there.
  ledger::Ledger l(site.ledger_url);
  bool known = false;
  for (const auto& m : images_r.matches) {
    std::string uid = m.trimmed("SOPInstanceUID");
    if (uid.empty()) continue;
    bool in_ledger = l.transact([&](pqxx::work& w) { return ledger::has_instance(w, uid); });
    if (sop.empty() || (known && !in_ledger)) {
      sop = uid;
      known = in_ledger;
    }
    if (!in_ledger) break;
  }
  if (sop.empty()) {
    steps.push_back({"find", true, o.study.empty() ? "no study (with an instance) found" : "study " + o.study + " not found", since()});
    code = kNothingToMove;
    verdict = "C-ECHO and C-FIND work; no instance to test a C-MOVE with (give --study UID of a study on this PACS)";
    return finish();
  }
  steps.push_back({"find", true, "study " + study + ", series " + series + ", instance " + sop, since()});

  // 3. C-MOVE that instance to our receiver; then look for it.
  uint64_t associations_before = 0;
  bool receiver_counts = false;
  auto receiver_status = [&](uint64_t& associations) {
    auto stub = receiver::v1::Receiver::NewStub(cli.channel(site.receiver.ports.grpc_port));
    receiver::v1::GetStatusResponse r;
    if (!stub->GetStatus(rpc_context(5).get(), {}, &r).ok()) return false;
    associations = r.associations();
    return true;
  };
  receiver_counts = receiver_status(associations_before);
  dicom::MoveResult mv = dicom::move(services::scu_options(site), peer, site.local.receiver_ae_title,
                                     core::StudyUid(study), core::SeriesUid(series), core::SopInstanceUid(sop));
  const std::string counts = "completed " + std::to_string(mv.completed) + ", failed " + std::to_string(mv.failed) +
                             ", warnings " + std::to_string(mv.warning);
  if (mv.status == 0xA801) {
    steps.push_back({"move", false, "status 0xA801 (move destination unknown)", ms(mv.elapsed)});
    code = kMoveDestinationUnknown;
    verdict = "the PACS does not know our receiver's AE title '" + site.local.receiver_ae_title.str() +
              "': register it at the PACS (AE title, our host, port " + std::to_string(site.receiver.dicom_port) + ")";
    return finish();
  }
  // The test instance is one the ledger does not hold: a receiver that refuses unsolicited
  // images (the default) answers its C-STORE 0x0124, so the PACS reports a failed
  // sub-operation although the path to us works. Our receiver's association count tells.
  uint64_t assoc_after = 0;
  if (!mv.ok && !site.receiver.accept_unsolicited && receiver_counts &&
      receiver_status(assoc_after) && assoc_after > associations_before) {
    steps.push_back({"move", true,
                     "the PACS reached our receiver (" + std::to_string(assoc_after - associations_before) +
                         " new association(s)); the instance was refused as unsolicited, as receiver.accept_unsolicited "
                         "is off (" + counts + ")",
                     ms(mv.elapsed)});
    verdict = "C-ECHO, C-FIND and a C-MOVE to " + site.local.receiver_ae_title.str() +
              " work (the test instance was refused as unsolicited, not stored)";
    return finish();
  }
  if (!mv.ok) {
    steps.push_back({"move", false, (mv.error ? mv.error->message : "failed") + " (" + counts + ")", ms(mv.elapsed)});
    code = kMoveFailed;
    verdict = "the PACS knows '" + site.local.receiver_ae_title.str() +
              "' but could not store to it: the host/port registered for it at the PACS is wrong (ours: port " +
              std::to_string(site.receiver.dicom_port) +
              "), our receiver is down, or a firewall/NAT blocks the PACS's connection back to us";
    return finish();
  }
  steps.push_back({"move", true, "the PACS reports success (" + counts + ")", ms(mv.elapsed)});

  auto t1 = std::chrono::steady_clock::now();
  bool arrived = false;
  std::string how;
  const auto deadline = t1 + std::chrono::seconds(o.wait_seconds);
  while (!arrived) {
    if (!known && l.transact([&](pqxx::work& w) { return ledger::has_instance(w, sop); })) {
      arrived = true;
      how = "instance " + sop + " is in the ledger";
    }
    uint64_t now_assoc = 0;
    if (!arrived && known && receiver_counts && receiver_status(now_assoc) && now_assoc > associations_before) {
      arrived = true;
      how = "our receiver counted " + std::to_string(now_assoc - associations_before) + " new association(s)";
    }
    if (arrived || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling with a deadline
  }
  const long long waited = ms(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1));
  if (!arrived) {
    steps.push_back({"arrive", false, "nothing arrived within " + std::to_string(o.wait_seconds) + " s", waited});
    code = kNothingArrived;
    verdict = "the PACS says it sent the instance but our receiver got nothing: the address registered for '" +
              site.local.receiver_ae_title.str() +
              "' at the PACS points elsewhere, or a firewall/NAT lets the PACS think it delivered";
    return finish();
  }
  steps.push_back({"arrive", true, how, waited});
  verdict = "C-ECHO, C-FIND and a C-MOVE of one instance to " + site.local.receiver_ae_title.str() + " all work";
  return finish();
}

// Why a PACS study and the ledger differ, or "" when they agree.
std::string explain(const std::optional<ledger::AuditStudy>& s, long pacs_count) {
  if (!s) return "not found yet (not in the ledger: the finder has not seen it, check its date window and modalities)";
  const std::string ours = std::to_string(s->received_instances) + "/" + (pacs_count < 0 ? "?" : std::to_string(pacs_count));
  if (s->state == "found" || s->state == "queued") return "found, not pulled yet (state " + s->state + ", waiting for a stable count or the mover)";
  if (s->state == "pulling") return "still pulling (" + ours + " instances)";
  if (s->state == "failed") return "pull failed" + (s->last_move.empty() ? std::string() : ": " + s->last_move);
  if (s->state == "unsupported")
    return "filtered" + (s->filter_reason.empty() ? std::string(" (no series qualified)") : ": " + s->filter_reason);
  if (pacs_count >= 0 && s->received_instances < pacs_count)
    return "fewer instances than the PACS (" + ours + (s->short_received ? ", passed on short after re-pulls" : "") + ")";
  if (s->state == "received") return "received, not dispatched yet";
  return "";
}

int cmd_audit(Cli& cli, const std::string& date_in) {
  const auto& site = cli.site();
  const std::string date = date_in.empty() ? core::format_dicom_date(site.zone.to_local(core::Clock::now())) : date_in;
  if (date.size() != 8 || date.find_first_not_of("0123456789") != std::string::npos)
    return cli.fail(kNotFound, "audit: --date wants YYYYMMDD, not '" + date + "'");
  struct Candidate {
    std::string uid, pacs, modalities;
    long count = -1;
  };
  std::map<std::string, Candidate> candidates;
  json errors = json::array();
  for (const auto& p : site.pacs) {
    for (const auto& modality : site.finder.modalities) {
      dicom::FindResult r = dicom::find(services::scu_options(site, p.max_results), services::peer_of(p.node),
                                        dicom::QueryLevel::Study, services::study_query(date, date, modality));
      if (r.error) {
        errors.push_back(p.name + " " + modality + ": " + rules::Text::from_utf8(r.error->message).str());
        continue;
      }
      if (r.truncated) errors.push_back(p.name + " " + modality + ": result capped at " + std::to_string(r.matches.size()));
      for (const auto& m : r.matches) {
        const std::string uid = m.trimmed("StudyInstanceUID");
        if (uid.empty()) continue;
        if (!rules::evaluate(site.rules, rules::Level::Study, m).pass) continue;  // the finder's own test
        auto [it, fresh] = candidates.try_emplace(uid);
        long count = m.integer("NumberOfStudyRelatedInstances").value_or(-1);
        if (fresh) {
          std::string mods;
          for (const auto& x : m.values("ModalitiesInStudy")) mods += (mods.empty() ? "" : "\\") + x;
          it->second = {uid, p.name, rules::Text::ascii(mods).str(), count};
        } else if (count > it->second.count) {
          it->second.count = count;
        }
      }
    }
  }
  ledger::Ledger l(site.ledger_url);
  struct Difference {
    std::string uid, pacs, modalities, explanation, state;
    long pacs_count = -1, ours = 0;
  };
  std::map<std::string, std::vector<Difference>> by_device;
  long agree = 0, differ = 0;
  for (const auto& [uid, c] : candidates) {
    auto s = l.transact([&](pqxx::work& w) { return ledger::audit_study(w, uid); });
    std::string why = explain(s, c.count);
    if (why.empty()) {
      ++agree;
      continue;
    }
    ++differ;
    // The device: series-level C-FIND of StationName / Manufacturer on the PACS it was found on.
    std::string device = "unknown device";
    const config::PacsNode* p = pacs_named(site, c.pacs);
    dicom::FindResult sr = dicom::find(services::scu_options(site), services::peer_of(p->node), dicom::QueryLevel::Series,
                                       {{"StudyInstanceUID", uid}, {"SeriesInstanceUID", ""}, {"Modality", ""},
                                        {"StationName", ""}, {"Manufacturer", ""}, {"SpecificCharacterSet", ""}});
    std::set<std::string> devices;
    for (const auto& m : sr.matches) {
      std::string manufacturer = rules::decoded(m, "Manufacturer").str();
      std::string station = rules::decoded(m, "StationName").str();
      if (manufacturer.empty() && station.empty()) continue;
      devices.insert((manufacturer.empty() ? "?" : manufacturer) + " / " + (station.empty() ? "?" : station));
    }
    if (!devices.empty()) {
      device.clear();
      for (const auto& d : devices) device += (device.empty() ? "" : ", ") + d;
    }
    by_device[device].push_back({uid, c.pacs, c.modalities, why, s ? s->state : "", c.count, s ? s->received_instances : 0});
  }
  json doc{{"date", date}, {"pacs_candidates", candidates.size()}, {"agree", agree}, {"differ", differ},
           {"errors", errors}, {"devices", json::array()}};
  for (const auto& [device, diffs] : by_device) {
    json d{{"device", device}, {"studies", json::array()}};
    for (const auto& x : diffs)
      d["studies"].push_back({{"study_instance_uid", x.uid}, {"pacs", x.pacs}, {"modalities", x.modalities},
                              {"pacs_instances", x.pacs_count < 0 ? json(nullptr) : json(x.pacs_count)},
                              {"received_instances", x.ours}, {"state", x.state.empty() ? json(nullptr) : json(x.state)},
                              {"explanation", x.explanation}});
    doc["devices"].push_back(std::move(d));
  }
  cli.emit(doc, [&] {
    std::cout << "audit of " << date << ": " << candidates.size() << " chest-candidate studies on the PACS, " << agree
              << " agree with the ledger, " << differ << " differ\n";
    for (const auto& e : errors) std::cout << "  query problem: " << e.get<std::string>() << "\n";
    for (const auto& [device, diffs] : by_device) {
      std::cout << "\n  " << device << ": " << diffs.size() << (diffs.size() == 1 ? " study\n" : " studies\n");
      for (const auto& x : diffs)
        std::cout << "    " << x.uid << " (" << x.modalities << ", PACS " << x.pacs << "): " << x.explanation << "\n";
    }
  });
  if (!errors.empty()) return kFailed;
  return differ == 0 ? kOk : kFailed;
}

// `pacs probe NAME`: what this PACS answers (the finder does the same at start-up), merged
// with the site's pins, the query plan the finder derives, stored in the ledger.
int cmd_probe(Cli& cli, const std::string& name, int days) {
  const auto& site = cli.site();
  const config::PacsNode* p = pacs_named(site, name);
  if (!p) return cli.fail(kNotFound, "pacs probe: no PACS named '" + name + "' in " + cli.config_path);
  const core::Time now = std::chrono::time_point_cast<core::Time::duration>(std::chrono::system_clock::now());
  const pipeline::DateWindow wide = pipeline::query_window(now, site.zone, -days);
  pipeline::ProbeAnswers answers =
      dicom::probe_answers(services::scu_options(site), services::peer_of(p->node), dicom::ProbeOptions{wide.from, wide.to});
  pipeline::PacsCapabilities probed = pipeline::assess_probe(answers);
  pipeline::PacsCapabilities c = pipeline::merge_pins(probed, p->capability_pins);
  pipeline::SeriesFilterMode mode = site.finder.series_filter == "on"    ? pipeline::SeriesFilterMode::On
                                    : site.finder.series_filter == "off" ? pipeline::SeriesFilterMode::Off
                                                                         : pipeline::SeriesFilterMode::Auto;
  pipeline::QueryPlan plan = pipeline::plan_queries(c, mode);
  ledger::PacsCapabilityRow row{name, c, p->pinned, plan.describe(),
                                answers.studies_failed ? "study-level C-FIND failed" : "",
                                std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count()};
  std::string stored = "stored in the ledger";
  std::vector<std::string> learned;  // what the mover learned (series_move), kept by the save
  try {
    ledger::Ledger l(site.ledger_url);
    l.transact([&](pqxx::work& w) {
      ledger::sync_pacs_nodes(w, {{p->name, p->node.ae_title.str(), p->node.host, static_cast<int>(p->node.port)}});
      ledger::save_pacs_capabilities(w, row);
      if (auto kept = ledger::load_pacs_capabilities(w, name)) {
        learned = kept->learned;
        if (!c.c_get) c.c_get = kept->capabilities.c_get;
        if (!c.series_move) c.series_move = kept->capabilities.series_move;
      }
    });
  } catch (const std::exception& e) {
    stored = std::string("not stored: ") + e.what();
  }
  auto tri_json = [](const std::optional<bool>& v) { return v ? json(*v) : json(nullptr); };
  json caps{{"study_modalities", tri_json(c.study_modalities)},
            {"study_counts", tri_json(c.study_counts)},
            {"filters_modalities", tri_json(c.filters_modalities)},
            {"series_modality", tri_json(c.series_modality)},
            {"series_counts", tri_json(c.series_counts)},
            {"series_body_part", tri_json(c.series_body_part)},
            {"series_description", tri_json(c.series_description)},
            {"image_level", tri_json(c.image_level)},
            {"result_cap", c.result_cap ? json(*c.result_cap) : json(nullptr)},
            {"c_get", tri_json(c.c_get)},
            {"series_move", tri_json(c.series_move)},
            {"timezone_offset", c.timezone_offset ? json(*c.timezone_offset) : json(nullptr)}};
  json notes = json::array();
  for (const auto& n : c.notes) notes.push_back(rules::Text::from_utf8(n).str());
  json doc{{"pacs", name},
           {"peer", where(*p)},
           {"ok", !answers.studies_failed},
           {"window", wide.dicom_range()},
           {"studies_seen", answers.studies.size()},
           {"capabilities", caps},
           {"pinned", p->pinned},
           {"learned", learned},
           {"plan", plan.describe()},
           {"series_filter", plan.series_filter},
           {"notes", notes},
           {"ledger", stored}};
  cli.emit(doc, [&] {
    std::cout << "PACS " << name << " (" << where(*p) << "), StudyDate " << wide.dicom_range() << ": "
              << answers.studies.size() << " studies seen" << (answers.studies_failed ? " (C-FIND FAILED)" : "") << "\n";
    auto line = [&](const char* what, const std::string& v, const char* key) {
      bool pinned = std::find(p->pinned.begin(), p->pinned.end(), key) != p->pinned.end();
      bool by_mover = !pinned && std::find(learned.begin(), learned.end(), key) != learned.end();
      std::cout << "  " << what << ": " << v << (pinned ? " (pinned)" : by_mover ? " (learned by the mover)" : "") << "\n";
    };
    line("ModalitiesInStudy at study level", pipeline::tri(c.study_modalities), "study_modalities");
    line("NumberOfStudyRelatedInstances", pipeline::tri(c.study_counts), "study_counts");
    line("filters on ModalitiesInStudy", pipeline::tri(c.filters_modalities), "filters_modalities");
    line("Modality at series level", pipeline::tri(c.series_modality), "series_modality");
    line("NumberOfSeriesRelatedInstances", pipeline::tri(c.series_counts), "series_counts");
    line("BodyPartExamined at series level", pipeline::tri(c.series_body_part), "series_body_part");
    line("SeriesDescription at series level", pipeline::tri(c.series_description), "series_description");
    line("image-level C-FIND", pipeline::tri(c.image_level), "image_level");
    line("C-FIND result cap", !c.result_cap ? "unknown" : *c.result_cap == 0 ? "none seen" : std::to_string(*c.result_cap),
         "result_cap");
    line("C-GET", pipeline::tri(c.c_get), "c_get");
    line("series-level C-MOVE", pipeline::tri(c.series_move), "series_move");
    line("TimezoneOffsetFromUTC", c.timezone_offset.value_or("not given"), "timezone_offset");
    for (const auto& n : notes) std::cout << "  note: " << n.get<std::string>() << "\n";
    std::cout << "  finder plan: " << plan.describe() << "\n  " << stored << "\n";
  });
  return answers.studies_failed ? kFailed : kOk;
}

}  // namespace

void add_pacs_commands(CLI::App& app, Cli& cli) {
  auto* pacs = app.add_subcommand("pacs", "check a PACS from the site file")->require_subcommand(1);
  static std::string echo_name;
  auto* echo = pacs->add_subcommand("echo", "C-ECHO: exit 0 when it answers, 10-14 naming what is wrong");
  echo->add_option("name", echo_name, "the PACS's name in the site file")->required();
  echo->callback([&] { cli.rc = cmd_echo(cli, echo_name); });

  static std::string test_name;
  static TestOptions to;
  auto* test = pacs->add_subcommand(
      "test", "C-ECHO, C-FIND of one study, C-MOVE of one instance to our receiver; the exit code names the problem: "
              "10 cannot connect (host/port/firewall), 11 PACS AE title wrong, 12 our AE not accepted, 13 rejected, "
              "14 echo failed, 15 C-FIND refused, 16 nothing to move, 17 our receiver AE unknown at the PACS, "
              "18 PACS cannot store to our receiver, 19 nothing arrived");
  test->add_option("name", test_name, "the PACS's name in the site file")->required();
  test->add_option("--study", to.study, "StudyInstanceUID to take the test instance from (default: any)");
  test->add_option("--wait", to.wait_seconds, "seconds to wait for the instance to arrive")->capture_default_str();
  test->callback([&] { cli.rc = cmd_test(cli, test_name, to); });

  static std::string probe_name;
  static int probe_days = 30;
  auto* probe = pacs->add_subcommand(
      "probe", "what the PACS answers: optional keys at study/series/image level, ModalitiesInStudy matching, "
               "result cap; the finder's query plan for it; stored in the ledger (exit 1 when the C-FIND fails)");
  probe->add_option("name", probe_name, "the PACS's name in the site file")->required();
  probe->add_option("--days", probe_days, "days back the probe's study query looks")->capture_default_str();
  probe->callback([&] { cli.rc = cmd_probe(cli, probe_name, probe_days); });

  static std::string audit_date;
  auto* audit = app.add_subcommand("audit", "the PACS's chest-candidate studies of a day against the ledger, "
                                            "differences grouped by device and explained");
  audit->add_option("--date", audit_date, "exam date YYYYMMDD (default: today in the site's time zone)");
  audit->callback([&] { cli.rc = cmd_audit(cli, audit_date); });
}

}  // namespace pacspull::pullctl
