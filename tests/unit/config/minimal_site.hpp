#pragma once
// The smallest valid site file (one PACS, the AI node), which the config tests add keys to.
#include <string>

namespace pacspull::config::testing {

inline const std::string kMinimalSite = R"(site: t
ledger: {url: "postgresql://x@127.0.0.1/db"}
bus: {url: "nats://127.0.0.1:4222"}
pacs:
  - {name: main, ae_title: PACS, host: 10.0.0.5, port: 104}
ai_node: {ae_title: AI, host: 127.0.0.1, port: 11113}
)";

}  // namespace pacspull::config::testing
