#pragma once
#include <google/protobuf/timestamp.pb.h>

#include <optional>

#include "pacspull/config/site_config.hpp"
#include "pacspull/core/attributes.hpp"
#include "pacspull/core/time.hpp"
#include "pacspull/dicom/types.hpp"

namespace pacspull::services {

dicom::ScuOptions scu_options(const config::SiteConfig& c, size_t max_results = 0);
dicom::Peer peer_of(const config::DicomNode& n);  // with its `tls:`
// The `tls:` of the configured PACS `name` (the mover knows PACS by their ledger rows);
// disabled when no PACS has that name.
dicom::TlsOptions pacs_tls(const config::SiteConfig& c, const std::string& name);
// The finder's study-level C-FIND keys: StudyDate from..to, ModalitiesInStudy contains
// `modality`, and the return keys the finder records (also used by `pullctl audit`).
core::AttributeMap study_query(const std::string& from, const std::string& to, const std::string& modality);
void to_proto(const std::optional<core::Time>& t, google::protobuf::Timestamp* out);
std::optional<core::Time> from_proto(const google::protobuf::Timestamp& t);

}  // namespace pacspull::services
