// Which series of a study to hand on, and whether a late series replaces the one
// already handed on.
#include <algorithm>
#include <cmath>
#include <limits>

#include "pacspull/rules/rules.hpp"
#include "text_match.hpp"

namespace pacspull::rules {
namespace {

using detail::format_mm;

// Thickness in micrometres: series closer than 0.001 mm are a tie (0.625 stays 0.625), and
// integers keep the ordering a strict weak order. Unknown thickness is estimated from
// the instance count exactly as evaluate() does; with neither it ranks last.
long long thickness_key(const RuleSet& rs, const SeriesCandidate& c) {
  double t = std::numeric_limits<double>::infinity();
  if (c.slice_thickness && std::isfinite(*c.slice_thickness) && *c.slice_thickness > 0)
    t = *c.slice_thickness;
  else if (c.instance_count > 0)
    t = rs.ct.assumed_coverage_mm / static_cast<double>(c.instance_count);
  if (!std::isfinite(t) || t > 1e9) return std::numeric_limits<long long>::max();
  return std::llround(t * 1000.0);
}

std::string thickness_text(long long key) {
  return key == std::numeric_limits<long long>::max() ? std::string("unknown thickness")
                                                       : format_mm(static_cast<double>(key) / 1000.0) + " mm";
}

// 0 = preferred window, 1 = unknown kernel or no preference, 2 = the other window.
int kernel_rank(const RuleSet& rs, const SeriesCandidate& c) {
  if (rs.ct.kernel.prefer == KernelWindow::None) return 1;
  KernelWindow w = kernel_window(rs, c.kernel);
  if (w == KernelWindow::None) return 1;
  return w == rs.ct.kernel.prefer ? 0 : 2;
}

std::string describe(const RuleSet& rs, const SeriesCandidate& c) {
  std::string s = "series " + std::to_string(c.series_number) + " (" + thickness_text(thickness_key(rs, c)) + ", " +
                  std::to_string(c.instance_count) + " instances";
  if (!c.kernel.empty()) s += ", kernel " + c.kernel;
  return s + ")";
}

struct Ranked {
  const SeriesCandidate* c;
  bool kernel_first;
  int kernel;
  long long thickness;
};

// Strict ordering: best first. Returns which criterion separated a and b.
enum class By { Kernel, Thickness, Instances, SeriesNumber, Uid, Equal };

By compare(const Ranked& a, const Ranked& b, bool* a_first) {
  if (a.kernel_first && a.kernel != b.kernel) return *a_first = a.kernel < b.kernel, By::Kernel;
  if (a.thickness != b.thickness) return *a_first = a.thickness < b.thickness, By::Thickness;
  if (a.kernel != b.kernel) return *a_first = a.kernel < b.kernel, By::Kernel;
  if (a.c->instance_count != b.c->instance_count)
    return *a_first = a.c->instance_count > b.c->instance_count, By::Instances;
  if (a.c->series_number != b.c->series_number)
    return *a_first = a.c->series_number < b.c->series_number, By::SeriesNumber;
  if (a.c->uid != b.c->uid) return *a_first = a.c->uid < b.c->uid, By::Uid;
  return *a_first = false, By::Equal;
}

}  // namespace

Selection select_series(const RuleSet& rs, const std::vector<SeriesCandidate>& candidates) {
  Selection sel;
  const bool kernel_first = rs.ct.kernel.over_thickness && rs.ct.kernel.prefer != KernelWindow::None;
  std::vector<Ranked> ct;
  bool dx_passed = false;
  for (const auto& c : candidates) {
    if (c.family == Family::Ct && c.passed)
      ct.push_back({&c, kernel_first, kernel_rank(rs, c), thickness_key(rs, c)});
    if (c.family == Family::Dx && c.passed) dx_passed = true;
  }
  if (!ct.empty()) {
    std::sort(ct.begin(), ct.end(), [](const Ranked& a, const Ranked& b) {
      bool a_first = false;
      compare(a, b, &a_first);
      return a_first;
    });
    const Ranked& best = ct.front();
    sel.series.push_back(best.c->uid);
    sel.reason = "thinnest series chosen: " + describe(rs, *best.c) + " of " + std::to_string(ct.size()) +
                 " qualifying";
    if (ct.size() > 1) {
      const Ranked& second = ct[1];
      bool a_first = false;
      switch (compare(best, second, &a_first)) {
        case By::Kernel:
          sel.reason += kernel_first ? "; kernel preference " : "; tie on thickness with series " +
                                                                    std::to_string(second.c->series_number) +
                                                                    " broken by kernel preference ";
          sel.reason += std::string(to_string(rs.ct.kernel.prefer));
          if (kernel_first) sel.reason += " ranks before thickness (next: " + describe(rs, *second.c) + ")";
          break;
        case By::Thickness: sel.reason += "; next " + describe(rs, *second.c); break;
        case By::Instances:
          sel.reason += "; tie on thickness with series " + std::to_string(second.c->series_number) +
                        " broken by instance count " + std::to_string(best.c->instance_count) + " > " +
                        std::to_string(second.c->instance_count);
          break;
        case By::SeriesNumber:
          sel.reason += "; tie with series " + std::to_string(second.c->series_number) +
                        " broken by lower series number";
          break;
        case By::Uid:
        case By::Equal:
          sel.reason += "; tie with series " + std::to_string(second.c->series_number) + " broken by SeriesInstanceUID";
          break;
      }
    }
    if (dx_passed) sel.reason += "; DX series of the same study not chosen (CT takes precedence)";
    return sel;
  }
  if (dx_passed) {
    // Frontal and lateral views may sit in different series and only the algorithm
    // tells them apart: hand on every DX-family series, passed or not.
    for (const auto& c : candidates)
      if (c.family == Family::Dx) sel.series.push_back(c.uid);
    sel.whole_study = true;
    sel.reason = "DX study: whole study handed on (" + std::to_string(sel.series.size()) + " series)";
    return sel;
  }
  sel.reason = "study is filtered out";
  return sel;
}

bool is_better(const RuleSet& rs, const SeriesCandidate& dispatched, const SeriesCandidate& later, std::string* why) {
  auto say = [&](std::string s, bool result) {
    if (why) *why = std::move(s);
    return result;
  };
  if (later.uid == dispatched.uid) return say("not re-informing: same series " + later.uid.str(), false);
  if (!later.passed)
    return say("not re-informing: series " + std::to_string(later.series_number) + " did not pass the rules", false);
  if (later.family != Family::Ct || dispatched.family != Family::Ct)
    return say("not re-informing: DX studies are handed on whole; a new series is a study update, not a better series",
               false);
  if (!dispatched.passed)
    return say("re-inform because " + describe(rs, later) + " passed and the dispatched series did not", true);
  const int kl = kernel_rank(rs, later);
  const int kd = kernel_rank(rs, dispatched);
  const long long tl = thickness_key(rs, later);
  const long long td = thickness_key(rs, dispatched);
  const std::string pref(to_string(rs.ct.kernel.prefer));
  if (rs.ct.kernel.over_thickness && rs.ct.kernel.prefer != KernelWindow::None && kl != kd) {
    if (kl < kd)
      return say("re-inform because " + describe(rs, later) + " has the preferred " + pref + " kernel, dispatched " +
                     describe(rs, dispatched) + " does not",
                 true);
    return say("not re-informing: " + describe(rs, later) + " lacks the preferred " + pref + " kernel of dispatched " +
                   describe(rs, dispatched),
               false);
  }
  if (tl < td)
    return say("re-inform because a thinner series arrived: " + describe(rs, later) + " thinner than dispatched " +
                   describe(rs, dispatched),
               true);
  if (tl == td && kl < kd)
    return say("re-inform because " + describe(rs, later) + " has the preferred " + pref +
                   " kernel at equal thickness with dispatched " + describe(rs, dispatched),
               true);
  return say("not re-informing: " + describe(rs, later) + " is not thinner than dispatched " +
                 describe(rs, dispatched),
             false);
}

}  // namespace pacspull::rules
