// pacspull-checker: the completeness checker (quiet for StableAge, counts reconciled).
#include "checker_app.hpp"
#include "pacspull/runtime/service.hpp"

int main(int argc, char** argv) {
  return pacspull::runtime::run(
      argc, argv, "checker", [](const auto& c) { return c.checker.ports; },
      [](pacspull::runtime::Context& ctx) { pacspull::services::CheckerApp(ctx).run(); });
}
