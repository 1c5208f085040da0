#include "pacspull/pipeline/concurrency.hpp"

#include <algorithm>

namespace pacspull::pipeline {

bool pressure(const Outcome& o) {
  switch (o.cls) {
    case OutcomeClass::OutOfResources:
    case OutcomeClass::Busy:
    case OutcomeClass::Unreachable:
    case OutcomeClass::NetworkError:
    case OutcomeClass::UnableToProcess:
      return true;
    default:
      return false;
  }
}

Window next_window(const WindowPolicy& p, Window w, const Outcome& o) {
  const int max = std::max(1, p.max);
  w.limit = std::clamp(w.limit, 1, max);
  if (!p.adaptive) return {max, 0};
  if (pressure(o)) return {std::max(1, w.limit / 2), 0};
  if (!o.ok()) return {w.limit, 0};
  if (++w.streak >= p.raise_after && w.limit < max) return {w.limit + 1, 0};
  return w;
}

}  // namespace pacspull::pipeline
