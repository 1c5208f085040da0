// pacspull-dispatcher: hands the series to compute to the AI node.
#include "dispatcher_app.hpp"
#include "pacspull/runtime/service.hpp"

int main(int argc, char** argv) {
  return pacspull::runtime::run(
      argc, argv, "dispatcher", [](const auto& c) { return c.dispatcher.ports; },
      [](pacspull::runtime::Context& ctx) { pacspull::services::DispatcherApp(ctx).run(); });
}
