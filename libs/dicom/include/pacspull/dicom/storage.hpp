#pragma once
// Where the receiver keeps an instance on disk.
#include <filesystem>
#include <string>
#include <string_view>

#include "pacspull/core/ids.hpp"

namespace pacspull::dicom {

// <root>/<study>/<series>/<sop>.dcm. Each UID has its DICOM padding trimmed; characters
// outside [0-9A-Za-z.-] (spaces seen in the field, slashes, NULs) become '_' and the name
// then gets "-<hash of the raw UID>" so two distinct bad UIDs never share a path. An empty
// UID becomes "unknown-<hash>" of its neighbours (study: of the series UID, series: of the
// study UID, SOP: of both), so instances of one series stay together and re-sends land on
// the same path. Pure and deterministic.
std::filesystem::path storage_path(const std::filesystem::path& root, const core::StudyUid& study,
                                   const core::SeriesUid& series, const core::SopInstanceUid& sop);

// One path component for a UID, by the rules above; `context` feeds the hash when empty.
std::string sanitize_uid_component(std::string_view raw, std::string_view context);

}  // namespace pacspull::dicom
