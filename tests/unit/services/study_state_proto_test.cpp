// The study state between protobuf and the pipeline: services/common/study_state_proto.hpp.
#include <catch2/catch.hpp>

#include <cctype>
#include <set>

#include "study_state_proto.hpp"

using namespace pacspull;

TEST_CASE("Every study state round-trips through the proto enum") {
  std::set<int> used;
  for (pipeline::StudyState s : pipeline::all_states()) {
    INFO(pipeline::to_string(s));
    const auto p = services::to_proto(s);
    CHECK(p != common::v1::STUDY_STATE_UNSPECIFIED);
    CHECK(services::from_proto(p) == s);
    used.insert(p);
  }
  CHECK(used.size() == pipeline::all_states().size());
}

TEST_CASE("Every proto value but unspecified is a state, named as the ledger and the CLI name it") {
  for (int v = common::v1::StudyState_MIN; v <= common::v1::StudyState_MAX; ++v) {
    if (!common::v1::StudyState_IsValid(v)) continue;
    const auto p = static_cast<common::v1::StudyState>(v);
    INFO(common::v1::StudyState_Name(p));
    if (p == common::v1::STUDY_STATE_UNSPECIFIED) {
      CHECK_FALSE(services::from_proto(p));
      CHECK(services::name_of(p).empty());
      continue;
    }
    REQUIRE(services::from_proto(p));
    // STUDY_STATE_PULLING <-> "pulling": the proto names follow the table's names.
    std::string lower;
    for (char c : common::v1::StudyState_Name(p).substr(std::string("STUDY_STATE_").size()))
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(services::name_of(p) == lower);
    CHECK(pipeline::parse_state(lower) == services::from_proto(p));
  }
  CHECK_FALSE(services::from_proto(static_cast<common::v1::StudyState>(99)));
}
