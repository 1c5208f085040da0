// `pullctl audit-log`: the ledger's audit trail (migration 008; issue 11 part 6): who
// pulled, sent, asked for or changed what, newest first.
#include <ctime>
#include <iostream>

#include "cli.hpp"
#include "pacspull/ledger/audit_store.hpp"
#include "pacspull/ledger/ledger.hpp"

namespace pacspull::pullctl {
namespace {

// "1764600000" (epoch seconds), "2026-12-01", "2026-12-01T13:00[:05]" (UTC) or a duration
// ago ("90m", "2h"). nullopt when it is none of these.
std::optional<int64_t> parse_since(const std::string& text, int64_t now) {
  if (text.empty()) return std::nullopt;
  if (text.find_first_not_of("0123456789") == std::string::npos && text.size() >= 9) return std::stoll(text);
  std::tm tm{};
  for (const char* fmt : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"}) {
    tm = {};
    const char* end = strptime(text.c_str(), fmt, &tm);
    if (end && *end == '\0') return static_cast<int64_t>(timegm(&tm));
  }
  try {
    return now - std::chrono::duration_cast<std::chrono::seconds>(config::parse_duration(text)).count();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string iso(int64_t at_us) {
  std::time_t t = static_cast<std::time_t>(at_us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>((at_us / 1000) % 1000));
  return std::string(buf) + frac;
}

}  // namespace

void add_audit_commands(CLI::App& app, Cli& cli) {
  static std::string since, action;
  static int limit = 100;
  auto* cmd = app.add_subcommand("audit-log", "the audit trail: pulls, dispatches, manual requests, configuration "
                                              "changes (who, what, when), newest first");
  cmd->add_option("--since", since, "from: epoch seconds, YYYY-MM-DD[THH:MM[:SS]] (UTC) or a duration ago (2h)");
  cmd->add_option("--action", action,
                  "one action (pull.queued, pull.moved, dispatch.sent, request, request.denied, config.rules_reload, "
                  "config.loaded) or a group ending in '.' (pull., config.)");
  cmd->add_option("--limit", limit, "rows at most")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->callback([&] {
    ledger::AuditQuery q;
    q.action = action;
    q.limit = limit;
    if (!since.empty()) {
      q.since_epoch = parse_since(since, static_cast<int64_t>(std::time(nullptr)));
      if (!q.since_epoch) {
        cli.rc = cli.fail(kNotFound, "--since: '" + since + "' is not epoch seconds, a date (YYYY-MM-DD[THH:MM[:SS]]) "
                                     "or a duration (90m, 2h)");
        return;
      }
    }
    std::vector<ledger::AuditRow> rows;
    try {
      ledger::Ledger l(cli.site().ledger_url);
      rows = l.transact([&](pqxx::work& w) { return ledger::audit_log(w, q); });
    } catch (const std::exception& e) {
      cli.rc = cli.fail(kFailed, std::string("audit-log: ") + e.what());
      return;
    }
    json doc{{"entries", json::array()}};
    for (const auto& r : rows)
      doc["entries"].push_back({{"id", r.id}, {"at", iso(r.at_us)}, {"actor", r.actor}, {"action", r.action},
                                {"object", r.object}, {"detail", json::parse(r.detail_json, nullptr, false)}});
    cli.emit(doc, [&] {
      for (const auto& r : rows)
        std::cout << iso(r.at_us) << "  " << r.actor << "  " << r.action << "  " << r.object << "  " << r.detail_json
                  << "\n";
      if (rows.empty()) std::cout << "no audit entries" << (since.empty() && action.empty() ? "" : " match") << "\n";
    });
  });
}

}  // namespace pacspull::pullctl
