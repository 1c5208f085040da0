#include "pacspull/runtime/clock.hpp"

#include <cstdlib>
#include <stdexcept>

namespace pacspull::runtime {

ClockChoice clock_from_environment() {
  const char* fake = std::getenv("PACSPULL_FAKE_NOW");
  if (!fake || !*fake) return {std::make_shared<SystemClock>(), std::nullopt};
  const char* hooks = std::getenv("PACSPULL_TEST_HOOKS");
  if (!hooks || std::string(hooks) != "1")
    throw std::invalid_argument(
        "PACSPULL_FAKE_NOW is set but PACSPULL_TEST_HOOKS=1 is not: refusing to run on a fake clock by accident");
  std::optional<core::Time> start = core::parse_iso(fake);
  if (!start)
    throw std::invalid_argument(std::string("PACSPULL_FAKE_NOW '") + fake +
                                "' is not an instant like 2026-03-14T16:30:00Z");
  return {std::make_shared<ShiftedClock>(*start),
          "PACSPULL_FAKE_NOW is set: this service's clock started at " + core::format_iso(*start) +
              " (a test hook; never set it in production)"};
}

}  // namespace pacspull::runtime
