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

// How a payload is published: first time, or by a reconciler. A first publish's msg id
// is <kind>.<study>.<generation>, so the bus drops duplicates inside its window. A
// reconciler's re-publish must get through that window (the first copy may sit with a
// consumer that died), so its id carries the time; consumers are idempotent anyway.
enum class Publish { First, Again };

// Publishes pacspull.move.request for a move.
bool publish_move(runtime::Context& ctx, const ledger::MoveWork& m, Publish how = Publish::First);
// Publishes a StudyReceived payload on `subject`, msg ids starting with `prefix`.
bool publish_study(runtime::Context& ctx, const char* subject, const std::string& prefix,
                   const ledger::ReceivedWork& w, Publish how = Publish::First);

// Parses `m` into `out`; an unreadable payload (or one `valid`, run after parsing,
// refuses) is parked in the ledger for an operator and the decision is Park (Retry
// while the ledger is down). nullopt: parsed, go on.
std::optional<bus::Decision> parse_or_park(runtime::Context& ctx, bus::Message& m,
                                           google::protobuf::MessageLite& out,
                                           const std::function<bool()>& valid = {});

}  // namespace pacspull::services
