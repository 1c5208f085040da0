#include "pacspull/dicom/storage.hpp"

#include <cstdint>
#include <cstdio>

#include "pacspull/core/attributes.hpp"

namespace pacspull::dicom {
namespace {

std::string fnv1a_hex(std::string_view data) {
  uint32_t h = 2166136261u;
  for (unsigned char c : data) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

bool allowed(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' || c == '-';
}

constexpr size_t kMaxComponent = 128;

}  // namespace

std::string sanitize_uid_component(std::string_view raw, std::string_view context) {
  const std::string uid = core::trim_dicom(raw);
  if (uid.empty()) return "unknown-" + fnv1a_hex(context);
  std::string out;
  bool altered = uid.size() > kMaxComponent;
  bool only_dots = true;
  for (char c : uid.substr(0, kMaxComponent)) {
    if (c != '.') only_dots = false;
    if (allowed(c)) {
      out += c;
    } else {
      out += '_';
      altered = true;
    }
  }
  if (only_dots) {  // "." or ".." must never become a path component
    out.assign(out.size(), '_');
    altered = true;
  }
  if (altered) out += "-" + fnv1a_hex(uid);
  return out;
}

std::filesystem::path storage_path(const std::filesystem::path& root, const core::StudyUid& study,
                                   const core::SeriesUid& series, const core::SopInstanceUid& sop) {
  // Neighbours are trimmed too: the same instance re-sent with other padding lands on the same path.
  const std::string study_raw = core::trim_dicom(study.str());
  const std::string series_raw = core::trim_dicom(series.str());
  const std::string study_dir = sanitize_uid_component(study.str(), series_raw);
  const std::string series_dir = sanitize_uid_component(series.str(), study_raw);
  const std::string sop_name = sanitize_uid_component(sop.str(), study_raw + "/" + series_raw);
  return root / study_dir / series_dir / (sop_name + ".dcm");
}

}  // namespace pacspull::dicom
