#include "study_state_proto.hpp"

#include <array>
#include <utility>

namespace pacspull::services {
namespace {

using P = common::v1::StudyState;
using S = pipeline::StudyState;

constexpr std::array<std::pair<S, P>, pipeline::kStudyStateCount> kMap{{
    {S::Found, common::v1::STUDY_STATE_FOUND},
    {S::Queued, common::v1::STUDY_STATE_QUEUED},
    {S::Pulling, common::v1::STUDY_STATE_PULLING},
    {S::Received, common::v1::STUDY_STATE_RECEIVED},
    {S::Unsupported, common::v1::STUDY_STATE_UNSUPPORTED},
    {S::Completed, common::v1::STUDY_STATE_COMPLETED},
    {S::Failed, common::v1::STUDY_STATE_FAILED},
}};

}  // namespace

common::v1::StudyState to_proto(pipeline::StudyState s) {
  for (const auto& [state, proto] : kMap)
    if (state == s) return proto;
  return common::v1::STUDY_STATE_UNSPECIFIED;
}

std::optional<pipeline::StudyState> from_proto(common::v1::StudyState s) {
  for (const auto& [state, proto] : kMap)
    if (proto == s) return state;
  return std::nullopt;
}

std::string_view name_of(common::v1::StudyState s) {
  const auto state = from_proto(s);
  return state ? pipeline::to_string(*state) : std::string_view();
}

}  // namespace pacspull::services
