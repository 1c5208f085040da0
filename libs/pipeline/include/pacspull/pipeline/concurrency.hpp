#pragma once
// How many moves may run at once against one PACS: 1 by default (synchronous), up to a
// configured maximum, adaptive: halved (at least 1) when the PACS refuses (out of
// resources, busy) or cannot be reached, one more after `raise_after` successes in a row.
// Pure: no I/O, no clock.
#include "pacspull/pipeline/outcome.hpp"

namespace pacspull::pipeline {

struct Window {
  int limit = 1;      // moves allowed in flight now
  int streak = 0;     // successes since the last change
};

struct WindowPolicy {
  int max = 1;
  bool adaptive = true;
  int raise_after = 3;
};

// The window after one retrieval's outcome.
Window next_window(const WindowPolicy& p, Window w, const Outcome& o);
// Whether this outcome says the PACS is overloaded or away (the window shrinks).
bool pressure(const Outcome& o);

}  // namespace pacspull::pipeline
