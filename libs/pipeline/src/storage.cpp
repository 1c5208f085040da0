#include "pacspull/pipeline/storage.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace pacspull::pipeline {
namespace {

std::string seconds_text(core::Seconds s) { return std::to_string(s.count()) + " s"; }

DeleteDecision due_after(core::Time since, core::Seconds wait, core::Time now, const std::string& why) {
  const core::Time due = since + wait;
  if (now >= due) return {DeleteAction::Delete, why, due};
  return {DeleteAction::Keep, why + ", due in " + seconds_text(std::chrono::duration_cast<core::Seconds>(due - now)),
          due};
}

}  // namespace

DeleteDecision deletion_due(const StoredStudy& s, const RetentionPolicy& p, core::Time now) {
  if (s.files_deleted) return {DeleteAction::Keep, "files already deleted", std::nullopt};
  if (!is_settled(s.state))
    return {DeleteAction::Keep, "study is " + std::string(to_string(s.state)) + ", not settled", std::nullopt};
  if (s.dispatch_pending) return {DeleteAction::Keep, "a dispatch is pending", std::nullopt};
  switch (s.state) {
    case StudyState::Completed:
      if (s.dispatched_generation != s.generation)
        return {DeleteAction::Keep, "generation " + std::to_string(s.generation) + " not settled by the dispatcher",
                std::nullopt};
      if (!s.dispatch_sent) return {DeleteAction::Keep, "completed without a confirmed dispatch", std::nullopt};
      return due_after(s.settled_at, p.keep_after_dispatch, now, "dispatched");
    case StudyState::Unsupported:
      if (s.dispatched_generation != s.generation)
        return {DeleteAction::Keep, "generation " + std::to_string(s.generation) + " not settled by the dispatcher",
                std::nullopt};
      // A study once sent and now filtered out still had its dispatch confirmed.
      return s.dispatch_sent ? due_after(s.settled_at, p.keep_after_dispatch, now, "dispatched earlier, now unsupported")
                             : due_after(s.settled_at, p.retention, now, "unsupported, never dispatched");
    case StudyState::Failed:
      return due_after(s.settled_at, p.retention, now, "failed, never dispatched");
    default:
      return {DeleteAction::Keep, "not settled", std::nullopt};
  }
}

uint64_t Watermark::used_bytes(uint64_t capacity_bytes) const {
  if (kind == Kind::Bytes) return static_cast<uint64_t>(value);
  return static_cast<uint64_t>(std::llround(static_cast<double>(capacity_bytes) * value / 100.0));
}

std::optional<Watermark> parse_watermark(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  Watermark w;
  double multiplier = 1;
  if (text.back() == '%') {
    w.kind = Watermark::Kind::Percent;
    text.remove_suffix(1);
  } else {
    w.kind = Watermark::Kind::Bytes;
    struct Suffix {
      std::string_view name;
      double factor;
    };
    static constexpr Suffix kSuffixes[] = {{"TiB", 1099511627776.0}, {"GiB", 1073741824.0}, {"MiB", 1048576.0},
                                           {"KiB", 1024.0},          {"T", 1099511627776.0},  {"G", 1073741824.0},
                                           {"M", 1048576.0},         {"K", 1024.0}};
    for (const auto& s : kSuffixes) {
      if (text.size() > s.name.size() && text.substr(text.size() - s.name.size()) == s.name) {
        multiplier = s.factor;
        text.remove_suffix(s.name.size());
        break;
      }
    }
  }
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !(v >= 0)) return std::nullopt;
  if (w.kind == Watermark::Kind::Percent && v > 100) return std::nullopt;
  w.value = v * multiplier;
  return w;
}

CapDecision storage_cap(bool refusing, const StoreUsage& usage, const Watermark& high, const Watermark& low) {
  const uint64_t used = usage.used_bytes();
  const uint64_t hi = high.used_bytes(usage.capacity_bytes);
  const uint64_t lo = low.used_bytes(usage.capacity_bytes);
  auto describe = [&](const char* what, uint64_t mark) {
    return std::string(what) + ": " + std::to_string(used) + " of " + std::to_string(usage.capacity_bytes) +
           " bytes used, " + std::to_string(usage.free_bytes) + " free (watermark " + std::to_string(mark) + " bytes)";
  };
  if (!refusing && used > hi) return {true, true, describe("above the high watermark, refusing new instances", hi)};
  if (refusing && used <= lo) return {false, true, describe("at or below the low watermark, accepting again", lo)};
  return {refusing, false, {}};
}

std::string temp_host(std::string_view host) {
  std::string clean;
  for (char c : host) clean += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return clean.empty() ? "unknown" : clean;
}

std::string temp_name(std::string_view host, long pid, uint64_t random, uint64_t sequence) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(random));
  return "rx-" + temp_host(host) + "-" + std::to_string(pid) + "-" + hex + "-" + std::to_string(sequence) + ".tmp";
}

std::optional<TempOwner> parse_temp_name(std::string_view name) {
  constexpr std::string_view kPrefix = "rx-", kSuffix = ".tmp";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix)
    return std::nullopt;
  std::string_view rest = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  std::string_view fields[3];  // sequence, random, pid (from the right)
  for (auto& f : fields) {
    const size_t dash = rest.rfind('-');
    if (dash == std::string_view::npos) return std::nullopt;
    f = rest.substr(dash + 1);
    rest = rest.substr(0, dash);
    if (f.empty()) return std::nullopt;
  }
  if (rest.empty()) return std::nullopt;
  long pid = 0;
  auto [end, ec] = std::from_chars(fields[2].data(), fields[2].data() + fields[2].size(), pid);
  if (ec != std::errc() || end != fields[2].data() + fields[2].size() || pid <= 0) return std::nullopt;
  return TempOwner{std::string(rest), pid};
}

TempDecision stale_temp(const TempFile& f, std::string_view my_host, long my_pid, core::Seconds stale_age) {
  const std::string age = "written " + seconds_text(f.age) + " ago";
  if (f.age >= stale_age) return {TempAction::Remove, "stale: " + age};
  if (!f.owner) return {TempAction::Keep, "unknown writer, " + age + ", not yet stale"};
  if (f.owner->host != my_host)
    return {TempAction::Keep, "receiver on " + f.owner->host + " may still be writing it, " + age};
  if (f.owner->pid == my_pid) return {TempAction::Remove, "left by an earlier run with our pid"};
  if (!f.owner_alive) return {TempAction::Remove, "left by pid " + std::to_string(f.owner->pid) + ", no longer running"};
  return {TempAction::Keep, "pid " + std::to_string(f.owner->pid) + " on this host still runs, " + age};
}

}  // namespace pacspull::pipeline
