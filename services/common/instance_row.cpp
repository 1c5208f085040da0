#include "instance_row.hpp"

#include <string_view>
#include <vector>

#include "pacspull/rules/text.hpp"

namespace pacspull::services {
namespace {

const std::vector<std::string_view> kStudyTextAttributes = {
    "PatientName", "PatientID", "AccessionNumber", "StudyDescription", "InstitutionName", "StationName",
    "Manufacturer"};
const std::vector<std::string_view> kSeriesTextAttributes = {
    "SeriesDescription", "ProtocolName", "BodyPartExamined", "ImageComments", "ConvolutionKernel"};

}  // namespace

ledger::InstanceRow instance_row(const dicom::StoreScp::Stored& s, const std::string& receiver) {
  using rules::Text;
  const core::AttributeMap& a = s.attributes;
  ledger::InstanceRow row;
  row.study_uid = Text::ascii(a.get("StudyInstanceUID").value_or(""));
  row.series_uid = Text::ascii(a.get("SeriesInstanceUID").value_or(""));
  row.sop_uid = Text::ascii(a.get("SOPInstanceUID").value_or(""));
  row.path = Text::from_utf8(s.path.string());
  row.accession_number = rules::decoded(a, "AccessionNumber");
  row.patient_id = rules::decoded(a, "PatientID");
  row.study_date = Text::ascii(a.get("StudyDate").value_or(""));
  row.modality = Text::ascii(a.get("Modality").value_or(""));
  row.series_description = rules::decoded(a, "SeriesDescription");
  if (auto n = a.integer("SeriesNumber")) row.series_number = static_cast<int>(*n);
  row.bytes = static_cast<long long>(s.bytes);
  row.calling_ae = Text::ascii(s.calling_ae.str());
  row.receiver = Text::from_utf8(receiver);
  row.study_raws = rules::raw_texts(a, kStudyTextAttributes);
  row.series_raws = rules::raw_texts(a, kSeriesTextAttributes);
  row.file_placed = s.arrival == dicom::StoreScp::Arrival::New;
  return row;
}

}  // namespace pacspull::services
