#include "pacspull/runtime/pipeline_bus.hpp"

#include <spdlog/spdlog.h>

namespace pacspull::runtime {
namespace {
constexpr const char* kWorkStream = "PACSPULL_WORK";
constexpr const char* kDispatchStream = "PACSPULL_DISPATCH";

bus::ConsumerSpec consumer(const char* durable, const char* subject, std::chrono::seconds ack_wait) {
  bus::ConsumerSpec c;
  c.stream = kWorkStream;
  c.durable = durable;
  c.filter_subject = subject;
  c.ack_wait = ack_wait;
  return c;
}
}  // namespace

// A C-MOVE or a dispatch of a big study can take minutes: handlers that long ack
// quickly (the mover queues the job in the ledger) or extend with in_progress().
bus::ConsumerSpec mover_consumer() { return consumer("mover", subjects::kMoveRequest, std::chrono::seconds(60)); }
bus::ConsumerSpec filter_consumer() { return consumer("filter", subjects::kStudyReceived, std::chrono::seconds(60)); }
// The dispatcher calls in_progress() after every chunk it sends.
bus::ConsumerSpec dispatcher_consumer() {
  return consumer("dispatcher", subjects::kStudyFiltered, std::chrono::seconds(60));
}

void declare_pipeline(bus::Bus& bus) {
  bus::StreamSpec work;
  work.name = kWorkStream;
  work.subjects = {"pacspull.move.>", "pacspull.study.>"};
  work.work_queue = true;
  bus.ensure_stream(work);
  bus::StreamSpec dispatch;
  dispatch.name = kDispatchStream;
  dispatch.subjects = {"pacspull.dispatch.>"};
  bus.ensure_stream(dispatch);
  for (const auto& c : {mover_consumer(), filter_consumer(), dispatcher_consumer()}) bus.ensure_consumer(c);
}

bool publish(bus::Bus& bus, const std::string& subject, const google::protobuf::MessageLite& payload,
             const std::string& msg_id) {
  std::string data;
  payload.SerializeToString(&data);
  bus::PublishResult r = bus.publish(subject, data, msg_id);
  if (!r.ok()) {
    spdlog::warn("publish {} ({}) failed: {} {}; the reconciler will re-publish", subject, msg_id,
                 bus::to_string(r.status), r.error);
    return false;
  }
  return true;
}

}  // namespace pacspull::runtime
