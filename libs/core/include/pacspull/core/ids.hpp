#pragma once
// Strong identifier types: a StudyUid can never be passed where a SeriesUid is meant.
#include <compare>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace pacspull::core {

template <class Tag>
class StrongId {
 public:
  StrongId() = default;
  explicit StrongId(std::string value) : value_(std::move(value)) {}
  const std::string& str() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  auto operator<=>(const StrongId&) const = default;

 private:
  std::string value_;
};

template <class Tag>
std::ostream& operator<<(std::ostream& os, const StrongId<Tag>& id) {
  return os << id.str();
}

using StudyUid = StrongId<struct StudyUidTag>;
using SeriesUid = StrongId<struct SeriesUidTag>;
using SopInstanceUid = StrongId<struct SopInstanceUidTag>;
using AeTitle = StrongId<struct AeTitleTag>;

}  // namespace pacspull::core

template <class Tag>
struct std::hash<pacspull::core::StrongId<Tag>> {
  size_t operator()(const pacspull::core::StrongId<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
