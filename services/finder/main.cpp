// pacspull-finder: C-FIND polling of every PACS, stability, move requests.
#include "finder_app.hpp"
#include "pacspull/runtime/service.hpp"

int main(int argc, char** argv) {
  return pacspull::runtime::run(
      argc, argv, "finder", [](const auto& c) { return c.finder.ports; },
      [](pacspull::runtime::Context& ctx) { pacspull::services::FinderApp(ctx).run(); });
}
