// pacspull-receiver: the C-STORE SCP. Scale it horizontally behind a TCP balancer.
#include "pacspull/runtime/service.hpp"
#include "receiver_app.hpp"

int main(int argc, char** argv) {
  return pacspull::runtime::run(
      argc, argv, "receiver", [](const auto& c) { return c.receiver.ports; },
      [](pacspull::runtime::Context& ctx) { pacspull::services::ReceiverApp(ctx).run(); });
}
