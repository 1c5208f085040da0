#include "dicom_options.hpp"

namespace pacspull::services {
namespace {
std::chrono::seconds secs(config::Millis m) {
  return std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(m));
}
}  // namespace

dicom::ScuOptions scu_options(const config::SiteConfig& c, size_t max_results) {
  dicom::ScuOptions o;
  o.calling_ae = c.local.ae_title;
  o.connect_timeout = secs(c.local.connect_timeout);
  o.acse_timeout = secs(c.local.acse_timeout);
  o.dimse_timeout = secs(c.local.dimse_timeout);
  o.max_results = max_results;
  return o;
}

namespace {
dicom::TlsOptions tls_of(const config::DicomTls& t) {
  return dicom::TlsOptions{t.enabled, t.certificate, t.private_key, t.ca_certificates, t.verify_peer};
}
}  // namespace

dicom::Peer peer_of(const config::DicomNode& n) { return dicom::Peer{n.ae_title, n.host, n.port, tls_of(n.tls)}; }

dicom::TlsOptions pacs_tls(const config::SiteConfig& c, const std::string& name) {
  for (const auto& p : c.pacs)
    if (p.name == name) return tls_of(p.node.tls);
  return {};
}

core::AttributeMap study_query(const std::string& from, const std::string& to, const std::string& modality) {
  return core::AttributeMap{{"StudyDate", from == to ? from : from + "-" + to},
                            {"ModalitiesInStudy", modality},
                            {"StudyInstanceUID", ""},
                            {"AccessionNumber", ""},
                            {"PatientID", ""},
                            {"StudyTime", ""},
                            {"StudyDescription", ""},
                            {"NumberOfStudyRelatedInstances", ""},
                            {"SpecificCharacterSet", ""}};
}

void to_proto(const std::optional<core::Time>& t, google::protobuf::Timestamp* out) {
  if (!t) return;
  out->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count());
}

std::optional<core::Time> from_proto(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return std::nullopt;
  return core::Time{} + std::chrono::seconds(t.seconds());
}

}  // namespace pacspull::services
