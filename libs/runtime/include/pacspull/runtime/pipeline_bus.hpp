#pragma once
// The pipeline's subjects, streams and consumers, declared in one place. Every service
// declares all of them at start-up (idempotent), so start order does not matter.
#include <google/protobuf/message_lite.h>

#include <string>

#include "pacspull/bus/bus.hpp"

namespace pacspull::runtime {

namespace subjects {
inline constexpr const char* kMoveRequest = "pacspull.move.request";
inline constexpr const char* kStudyReceived = "pacspull.study.received";
inline constexpr const char* kStudyFiltered = "pacspull.study.filtered";
inline constexpr const char* kDispatchDone = "pacspull.dispatch.done";
}  // namespace subjects

bus::ConsumerSpec mover_consumer();
bus::ConsumerSpec filter_consumer();
bus::ConsumerSpec dispatcher_consumer();
void declare_pipeline(bus::Bus& bus);

// Publishes a protobuf payload; false (logged) when the bus did not take it. The
// caller's ledger state is already committed, so a reconciler re-publishes later.
bool publish(bus::Bus& bus, const std::string& subject, const google::protobuf::MessageLite& payload,
             const std::string& msg_id);

}  // namespace pacspull::runtime
