#include "messages.hpp"

#include <spdlog/spdlog.h>

#include "dicom_options.hpp"
#include "pacspull/events/v1/events.pb.h"
#include "pacspull/runtime/pipeline_bus.hpp"

namespace pacspull::services {
namespace {
std::string msg_id(const std::string& kind, const std::string& study, int generation, Publish how) {
  std::string id = kind + "." + study + "." + std::to_string(generation);
  if (how == Publish::Again)
    id += ".again-" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  return id;
}
}  // namespace

bool publish_move(runtime::Context& ctx, const ledger::MoveWork& m, Publish how) {
  events::v1::MoveRequest req;
  req.set_study_instance_uid(m.study_uid);
  req.set_pacs(m.pacs);
  req.set_generation(m.generation);
  req.set_priority(static_cast<common::v1::Priority>(m.priority));
  to_proto(m.exam_time, req.mutable_exam_time());
  req.set_reason(m.reason);
  req.set_series_instance_uid(m.series_uid);
  for (const auto& uid : m.series_uids) req.add_series_uids(uid);
  return runtime::publish(*ctx.bus, runtime::subjects::kMoveRequest, req,
                          msg_id("move", m.study_uid, m.generation, how));
}

bool publish_study(runtime::Context& ctx, const char* subject, const std::string& prefix,
                   const ledger::ReceivedWork& w, Publish how) {
  events::v1::StudyReceived out;
  out.set_study_instance_uid(w.study_uid);
  out.set_generation(w.generation);
  out.set_pacs_instances(w.pacs_instances);
  out.set_received_instances(w.received_instances);
  out.set_short_(w.short_);
  return runtime::publish(*ctx.bus, subject, out, msg_id(prefix, w.study_uid, w.generation, how));
}

std::optional<bus::Decision> parse_or_park(runtime::Context& ctx, bus::Message& m,
                                           google::protobuf::MessageLite& out,
                                           const std::function<bool()>& valid) {
  if (out.ParseFromArray(m.data().data(), static_cast<int>(m.data().size())) && (!valid || valid()))
    return std::nullopt;
  std::string reason = "unreadable " + out.GetTypeName();
  spdlog::error("{}: {} on {}; parked in the ledger (parked_messages)", ctx.service, reason, m.subject());
  try {
    ctx.ledger->transact(
        [&](pqxx::work& w) { ledger::park_message(w, ctx.service, m.subject(), std::string(m.data()), rules::Text::from_utf8(reason));
        });
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot park the message yet: {}", ctx.service, e.what());
    return bus::Decision::Retry;
  }
  return bus::Decision::Park;
}

}  // namespace pacspull::services
