// pacspull-mover: C-MOVE jobs, one at a time, in priority then exam-time order.
#include "mover_app.hpp"
#include "pacspull/runtime/service.hpp"

int main(int argc, char** argv) {
  return pacspull::runtime::run(
      argc, argv, "mover", [](const auto& c) { return c.mover.ports; },
      [](pacspull::runtime::Context& ctx) { pacspull::services::MoverApp(ctx).run(); });
}
