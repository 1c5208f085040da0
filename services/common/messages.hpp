#pragma once
// Encoding of the pipeline's NATS payloads from ledger rows, and the one way a
// consumer handles a payload it cannot read: park it in the ledger, then term it.
#include <google/protobuf/message_lite.h>

#include <functional>
#include <optional>
#include <string>

#include "pacspull/bus/worker.hpp"
#include "pacspull/ledger/checker_store.hpp"
#include "pacspull/ledger/finder_store.hpp"
#include "pacspull/runtime/service.hpp"

namespace pacspull::services {

// Publishes pacspull.move.request for a move (msg id move.<study>.<generation>).
bool publish_move(runtime::Context& ctx, const ledger::MoveWork& m);
// Publishes a StudyReceived payload on `subject` (msg id <prefix>.<study>.<generation>).
bool publish_study(runtime::Context& ctx, const char* subject, const std::string& prefix,
                   const ledger::ReceivedWork& w);

// Parses `m` into `out`; an unreadable payload (or one `valid`, run after parsing,
// refuses) is parked in the ledger for an operator and the decision is Park (Retry
// while the ledger is down). nullopt: parsed, go on.
std::optional<bus::Decision> parse_or_park(runtime::Context& ctx, bus::Message& m,
                                           google::protobuf::MessageLite& out,
                                           const std::function<bool()>& valid = {});

}  // namespace pacspull::services
