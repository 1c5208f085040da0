// pacspull-filter: the rules, applied to the first image of every series.
#include "filter_app.hpp"
#include "pacspull/runtime/service.hpp"

int main(int argc, char** argv) {
  return pacspull::runtime::run(
      argc, argv, "filter", [](const auto& c) { return c.filter.ports; },
      [](pacspull::runtime::Context& ctx) { pacspull::services::FilterApp(ctx).run(); });
}
