#include "pacspull/deid/profile.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <tuple>

namespace pacspull::deid {
namespace {

constexpr Action X = Action::Remove, Z = Action::Empty, D = Action::Dummy, U = Action::ReplaceUid;
constexpr bool kDate = true, kDesc = true;

// PS3.15 Table E.1-1 (2024), the rows an image of a chest CT / DX / CR / MR study can hold.
// Where the table allows a choice (X/Z, Z/D, X/Z/D ...) the first one that keeps the IOD
// valid for a Type 2 attribute is used (Z for Type 2, X otherwise).
std::vector<Rule> make_table() {
  std::vector<Rule> t{
      {0x0002, 0x0003, "MediaStorageSOPInstanceUID", U},
      {0x0008, 0x0012, "InstanceCreationDate", X, kDate},
      {0x0008, 0x0013, "InstanceCreationTime", X, kDate},
      {0x0008, 0x0014, "InstanceCreatorUID", U},
      {0x0008, 0x0018, "SOPInstanceUID", U},
      {0x0008, 0x0020, "StudyDate", Z, kDate},
      {0x0008, 0x0021, "SeriesDate", X, kDate},
      {0x0008, 0x0022, "AcquisitionDate", X, kDate},
      {0x0008, 0x0023, "ContentDate", Z, kDate},
      {0x0008, 0x0024, "OverlayDate", X, kDate},
      {0x0008, 0x0025, "CurveDate", X, kDate},
      {0x0008, 0x002A, "AcquisitionDateTime", X, kDate},
      {0x0008, 0x0030, "StudyTime", Z, kDate},
      {0x0008, 0x0031, "SeriesTime", X, kDate},
      {0x0008, 0x0032, "AcquisitionTime", X, kDate},
      {0x0008, 0x0033, "ContentTime", Z, kDate},
      {0x0008, 0x0034, "OverlayTime", X, kDate},
      {0x0008, 0x0035, "CurveTime", X, kDate},
      {0x0008, 0x0050, "AccessionNumber", Z},
      {0x0008, 0x0058, "FailedSOPInstanceUIDList", U},
      {0x0008, 0x0080, "InstitutionName", X},
      {0x0008, 0x0081, "InstitutionAddress", X},
      {0x0008, 0x0082, "InstitutionCodeSequence", X},
      {0x0008, 0x0090, "ReferringPhysicianName", Z},
      {0x0008, 0x0092, "ReferringPhysicianAddress", X},
      {0x0008, 0x0094, "ReferringPhysicianTelephoneNumbers", X},
      {0x0008, 0x0096, "ReferringPhysicianIdentificationSequence", X},
      {0x0008, 0x009C, "ConsultingPhysicianName", X},
      {0x0008, 0x0201, "TimezoneOffsetFromUTC", X, kDate},
      {0x0008, 0x1010, "StationName", X},
      {0x0008, 0x1030, "StudyDescription", X, false, kDesc},
      {0x0008, 0x1032, "ProcedureCodeSequence", X},
      {0x0008, 0x103E, "SeriesDescription", X, false, kDesc},
      {0x0008, 0x1040, "InstitutionalDepartmentName", X},
      {0x0008, 0x1048, "PhysiciansOfRecord", X},
      {0x0008, 0x1049, "PhysiciansOfRecordIdentificationSequence", X},
      {0x0008, 0x1050, "PerformingPhysicianName", X},
      {0x0008, 0x1052, "PerformingPhysicianIdentificationSequence", X},
      {0x0008, 0x1060, "NameOfPhysiciansReadingStudy", X},
      {0x0008, 0x1062, "PhysiciansReadingStudyIdentificationSequence", X},
      {0x0008, 0x1070, "OperatorsName", X},
      {0x0008, 0x1072, "OperatorIdentificationSequence", X},
      {0x0008, 0x1080, "AdmittingDiagnosesDescription", X, false, kDesc},
      {0x0008, 0x1084, "AdmittingDiagnosesCodeSequence", X},
      {0x0008, 0x1110, "ReferencedStudySequence", X},
      {0x0008, 0x1111, "ReferencedPerformedProcedureStepSequence", X},
      {0x0008, 0x1120, "ReferencedPatientSequence", X},
      {0x0008, 0x1155, "ReferencedSOPInstanceUID", U},
      {0x0008, 0x2111, "DerivationDescription", X, false, kDesc},
      {0x0008, 0x3010, "IrradiationEventUID", U},
      {0x0008, 0x4000, "IdentifyingComments", X},
      {0x0010, 0x0010, "PatientName", Z},
      {0x0010, 0x0020, "PatientID", Z},
      {0x0010, 0x0021, "IssuerOfPatientID", X},
      {0x0010, 0x0024, "IssuerOfPatientIDQualifiersSequence", X},
      {0x0010, 0x0030, "PatientBirthDate", Z},
      {0x0010, 0x0032, "PatientBirthTime", X},
      {0x0010, 0x0040, "PatientSex", Z},
      {0x0010, 0x0050, "PatientInsurancePlanCodeSequence", X},
      {0x0010, 0x1000, "OtherPatientIDs", X},
      {0x0010, 0x1001, "OtherPatientNames", X},
      {0x0010, 0x1002, "OtherPatientIDsSequence", X},
      {0x0010, 0x1005, "PatientBirthName", X},
      {0x0010, 0x1010, "PatientAge", X},
      {0x0010, 0x1020, "PatientSize", X},
      {0x0010, 0x1030, "PatientWeight", X},
      {0x0010, 0x1040, "PatientAddress", X},
      {0x0010, 0x1060, "PatientMotherBirthName", X},
      {0x0010, 0x1080, "MilitaryRank", X},
      {0x0010, 0x1081, "BranchOfService", X},
      {0x0010, 0x1090, "MedicalRecordLocator", X},
      {0x0010, 0x2000, "MedicalAlerts", X, false, kDesc},
      {0x0010, 0x2110, "Allergies", X, false, kDesc},
      {0x0010, 0x2150, "CountryOfResidence", X},
      {0x0010, 0x2152, "RegionOfResidence", X},
      {0x0010, 0x2154, "PatientTelephoneNumbers", X},
      {0x0010, 0x2160, "EthnicGroup", X},
      {0x0010, 0x2180, "Occupation", X},
      {0x0010, 0x21A0, "SmokingStatus", X},
      {0x0010, 0x21B0, "AdditionalPatientHistory", X, false, kDesc},
      {0x0010, 0x21C0, "PregnancyStatus", X},
      {0x0010, 0x21D0, "LastMenstrualDate", X, kDate},
      {0x0010, 0x21F0, "PatientReligiousPreference", X},
      {0x0010, 0x4000, "PatientComments", X, false, kDesc},
      {0x0018, 0x1000, "DeviceSerialNumber", X},
      {0x0018, 0x1002, "DeviceUID", U},
      {0x0018, 0x1004, "PlateID", X},
      {0x0018, 0x1005, "GeneratorID", X},
      {0x0018, 0x1007, "CassetteID", X},
      {0x0018, 0x1008, "GantryID", X},
      {0x0018, 0x1012, "DateOfSecondaryCapture", X, kDate},
      {0x0018, 0x1014, "TimeOfSecondaryCapture", X, kDate},
      {0x0018, 0x1030, "ProtocolName", X, false, kDesc},
      {0x0018, 0x1400, "AcquisitionDeviceProcessingDescription", X, false, kDesc},
      {0x0018, 0x700A, "DetectorID", X},
      {0x0018, 0x700C, "DateOfLastDetectorCalibration", X, kDate},
      {0x0018, 0x700E, "TimeOfLastDetectorCalibration", X, kDate},
      {0x0018, 0x9424, "AcquisitionProtocolDescription", X, false, kDesc},
      {0x0018, 0xA003, "ContributionDescription", X, false, kDesc},
      {0x0020, 0x000D, "StudyInstanceUID", U},
      {0x0020, 0x000E, "SeriesInstanceUID", U},
      {0x0020, 0x0010, "StudyID", Z},
      {0x0020, 0x0052, "FrameOfReferenceUID", U},
      {0x0020, 0x0200, "SynchronizationFrameOfReferenceUID", U},
      {0x0020, 0x3401, "ModifyingDeviceID", X},
      {0x0020, 0x3404, "ModifyingDeviceManufacturer", X},
      {0x0020, 0x3406, "ModifiedImageDescription", X},
      {0x0020, 0x4000, "ImageComments", X, false, kDesc},
      {0x0020, 0x9161, "ConcatenationUID", U},
      {0x0020, 0x9164, "DimensionOrganizationUID", U},
      {0x0028, 0x1199, "PaletteColorLookupTableUID", U},
      {0x0028, 0x1214, "LargePaletteColorLookupTableUID", U},
      {0x0028, 0x4000, "ImagePresentationComments", X},
      {0x0032, 0x0012, "StudyIDIssuer", X},
      {0x0032, 0x0032, "StudyVerifiedDate", X, kDate},
      {0x0032, 0x0033, "StudyVerifiedTime", X, kDate},
      {0x0032, 0x0034, "StudyReadDate", X, kDate},
      {0x0032, 0x0035, "StudyReadTime", X, kDate},
      {0x0032, 0x1000, "ScheduledStudyStartDate", X, kDate},
      {0x0032, 0x1001, "ScheduledStudyStartTime", X, kDate},
      {0x0032, 0x1020, "ScheduledStudyLocation", X},
      {0x0032, 0x1021, "ScheduledStudyLocationAETitle", X},
      {0x0032, 0x1030, "ReasonForStudy", X, false, kDesc},
      {0x0032, 0x1032, "RequestingPhysician", X},
      {0x0032, 0x1033, "RequestingService", X},
      {0x0032, 0x1060, "RequestedProcedureDescription", X, false, kDesc},
      {0x0032, 0x1064, "RequestedProcedureCodeSequence", X},
      {0x0032, 0x1070, "RequestedContrastAgent", X, false, kDesc},
      {0x0032, 0x4000, "StudyComments", X, false, kDesc},
      {0x0038, 0x0010, "AdmissionID", X},
      {0x0038, 0x0011, "IssuerOfAdmissionID", X},
      {0x0038, 0x001E, "ScheduledPatientInstitutionResidence", X},
      {0x0038, 0x0020, "AdmittingDate", X, kDate},
      {0x0038, 0x0021, "AdmittingTime", X, kDate},
      {0x0038, 0x0040, "DischargeDiagnosisDescription", X, false, kDesc},
      {0x0038, 0x0050, "SpecialNeeds", X, false, kDesc},
      {0x0038, 0x0060, "ServiceEpisodeID", X},
      {0x0038, 0x0062, "ServiceEpisodeDescription", X, false, kDesc},
      {0x0038, 0x0300, "CurrentPatientLocation", X},
      {0x0038, 0x0400, "PatientInstitutionResidence", X},
      {0x0038, 0x0500, "PatientState", X, false, kDesc},
      {0x0038, 0x4000, "VisitComments", X, false, kDesc},
      {0x0040, 0x0001, "ScheduledStationAETitle", X},
      {0x0040, 0x0002, "ScheduledProcedureStepStartDate", X, kDate},
      {0x0040, 0x0003, "ScheduledProcedureStepStartTime", X, kDate},
      {0x0040, 0x0004, "ScheduledProcedureStepEndDate", X, kDate},
      {0x0040, 0x0005, "ScheduledProcedureStepEndTime", X, kDate},
      {0x0040, 0x0006, "ScheduledPerformingPhysicianName", X},
      {0x0040, 0x0007, "ScheduledProcedureStepDescription", X, false, kDesc},
      {0x0040, 0x000B, "ScheduledPerformingPhysicianIdentificationSequence", X},
      {0x0040, 0x0010, "ScheduledStationName", X},
      {0x0040, 0x0011, "ScheduledProcedureStepLocation", X},
      {0x0040, 0x0241, "PerformedStationAETitle", X},
      {0x0040, 0x0242, "PerformedStationName", X},
      {0x0040, 0x0243, "PerformedLocation", X},
      {0x0040, 0x0244, "PerformedProcedureStepStartDate", X, kDate},
      {0x0040, 0x0245, "PerformedProcedureStepStartTime", X, kDate},
      {0x0040, 0x0250, "PerformedProcedureStepEndDate", X, kDate},
      {0x0040, 0x0251, "PerformedProcedureStepEndTime", X, kDate},
      {0x0040, 0x0253, "PerformedProcedureStepID", X},
      {0x0040, 0x0254, "PerformedProcedureStepDescription", X, false, kDesc},
      {0x0040, 0x0275, "RequestAttributesSequence", X},
      {0x0040, 0x0280, "CommentsOnThePerformedProcedureStep", X, false, kDesc},
      {0x0040, 0x0555, "AcquisitionContextSequence", X},
      {0x0040, 0x1001, "RequestedProcedureID", X},
      {0x0040, 0x1004, "PatientTransportArrangements", X},
      {0x0040, 0x1005, "RequestedProcedureLocation", X},
      {0x0040, 0x1010, "NamesOfIntendedRecipientsOfResults", X},
      {0x0040, 0x1011, "IntendedRecipientsOfResultsIdentificationSequence", X},
      {0x0040, 0x1102, "PersonAddress", X},
      {0x0040, 0x1103, "PersonTelephoneNumbers", X},
      {0x0040, 0x1400, "RequestedProcedureComments", X, false, kDesc},
      {0x0040, 0x2001, "ReasonForTheImagingServiceRequest", X, false, kDesc},
      {0x0040, 0x2008, "OrderEnteredBy", X},
      {0x0040, 0x2009, "OrderEntererLocation", X},
      {0x0040, 0x2010, "OrderCallbackPhoneNumber", X},
      {0x0040, 0x2016, "PlacerOrderNumberImagingServiceRequest", X},
      {0x0040, 0x2017, "FillerOrderNumberImagingServiceRequest", X},
      {0x0040, 0x2400, "ImagingServiceRequestComments", X, false, kDesc},
      {0x0040, 0x3001, "ConfidentialityConstraintOnPatientDataDescription", X},
      {0x0040, 0xA027, "VerifyingOrganization", X},
      {0x0040, 0xA073, "VerifyingObserverSequence", X},
      {0x0040, 0xA075, "VerifyingObserverName", X},
      {0x0040, 0xA123, "PersonName", X},
      {0x0040, 0xA124, "UID", U},
      {0x0040, 0xA171, "ObservationUID", U},
      {0x0040, 0xA730, "ContentSequence", X},
      {0x0040, 0xDB0C, "TemplateExtensionOrganizationUID", U},
      {0x0040, 0xDB0D, "TemplateExtensionCreatorUID", U},
      {0x0088, 0x0140, "StorageMediaFileSetUID", U},
      {0x0400, 0x0100, "DigitalSignatureUID", X},
      {0x0400, 0x0561, "OriginalAttributesSequence", X},
      {0x3006, 0x0024, "ReferencedFrameOfReferenceUID", U},
      {0x3006, 0x00C2, "RelatedFrameOfReferenceUID", U},
      {0xFFFA, 0xFFFA, "DigitalSignaturesSequence", X},
      {0xFFFC, 0xFFFC, "DataSetTrailingPadding", X},
  };
  std::sort(t.begin(), t.end(),
            [](const Rule& a, const Rule& b) { return std::tie(a.group, a.element) < std::tie(b.group, b.element); });
  return t;
}

// SHA-256 (FIPS 180-4), enough for deriving UIDs and pseudonyms without an I/O library.
std::array<uint8_t, 32> sha256(std::string_view data) {
  static constexpr uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
      0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
      0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
      0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg(data);
  const uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bits >> (i * 8)) & 0xff));
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(msg.data() + off + i * 4);
      w[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  std::array<uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) out[i * 4 + j] = static_cast<uint8_t>(h[i] >> (24 - j * 8));
  return out;
}

std::string keyed(std::string_view key, std::string_view target, std::string_view kind, std::string_view value) {
  std::string s;
  for (auto part : {key, target, kind, value}) {
    s += std::to_string(part.size());  // length-prefixed: ("ab","c") never equals ("a","bc")
    s += ':';
    s += part;
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const char* action_name(Action a) {
  switch (a) {
    case Action::Keep: return "K";
    case Action::Remove: return "X";
    case Action::Empty: return "Z";
    case Action::Dummy: return "D";
    case Action::ReplaceUid: return "U";
    case Action::Clean: return "C";
  }
  return "?";
}

const std::vector<Rule>& basic_profile() {
  static const std::vector<Rule> table = make_table();
  return table;
}

const Rule* find_rule(uint16_t group, uint16_t element) {
  const auto& t = basic_profile();
  auto it = std::lower_bound(t.begin(), t.end(), std::pair{group, element}, [](const Rule& r, const auto& key) {
    return std::pair{r.group, r.element} < key;
  });
  return it != t.end() && it->group == group && it->element == element ? &*it : nullptr;
}

Action action_for_tag(uint16_t group, uint16_t element, const Options& options) {
  if (group % 2 == 1) return Action::Remove;  // private attributes (Retain Safe Private is not offered)
  if (group >= 0x5000 && group <= 0x50FF) return Action::Remove;  // curve data
  if (group >= 0x6000 && group <= 0x60FF && (element == 0x3000 || element == 0x4000)) return Action::Remove;
  const Rule* r = find_rule(group, element);
  if (r == nullptr) return Action::Keep;
  if (r->basic == Action::ReplaceUid && options.retain_uids) return Action::Keep;
  if (r->date_time && options.retain_dates) return Action::Keep;
  if (r->descriptor && options.clean_descriptors) return Action::Clean;
  return r->basic;
}

std::string sha256_hex(std::string_view data) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : sha256(data)) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string derive_uid(std::string_view key, std::string_view target, std::string_view uid) {
  auto d = sha256(keyed(key, target, "uid", uid));
  unsigned __int128 v = 0;
  for (int i = 0; i < 16; ++i) v = (v << 8) | d[i];
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v != 0);
  return "2.25." + digits;
}

std::string pseudonym(std::string_view key, std::string_view target, std::string_view patient_id) {
  return "PP" + sha256_hex(keyed(key, target, "patient", patient_id)).substr(0, 20);
}

std::string clean_descriptor(std::string_view value, const std::vector<std::string>& identifiers) {
  std::string s(value);
  // Identifiers first (a name inside a longer word is still removed: "WANGLEI" in "CTWANGLEI").
  for (const auto& id : identifiers) {
    if (id.size() < 3) continue;
    const std::string needle = lower(id);
    for (size_t p; (p = lower(s).find(needle)) != std::string::npos;) s.erase(p, id.size());
  }
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j - i >= 5) {
      i = j;
      continue;
    }
    if (j > i) {
      out.append(s, i, j - i);
      i = j;
      continue;
    }
    const char c = s[i++];
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::vector<MethodCode> method_codes(const Options& options) {
  std::vector<MethodCode> codes{{"113100", "Basic Application Confidentiality Profile"}};
  if (options.clean_descriptors) codes.push_back({"113105", "Clean Descriptors Option"});
  if (options.retain_dates) codes.push_back({"113106", "Retain Longitudinal Temporal Information Full Dates Option"});
  if (options.retain_uids) codes.push_back({"113110", "Retain UIDs Option"});
  return codes;
}

std::string method_text(const Options& options) {
  std::string s = "PS3.15 E.1 Basic";
  if (options.clean_descriptors) s += ", Clean Descr.";
  if (options.retain_dates) s += ", Full Dates";
  if (options.retain_uids) s += ", UIDs kept";
  return s;  // LO: at most 64 characters
}

}  // namespace pacspull::deid
