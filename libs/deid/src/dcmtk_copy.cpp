// DCMTK adapter of libs/deid: applies the PS3.15 action table (profile.cpp) to a dataset
// and writes the copy. Only this file of libs/deid includes DCMTK.
#include <exception>
#include <set>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "pacspull/deid/copy.hpp"

namespace pacspull::deid {
namespace {

std::optional<E_TransferSyntax> xfer_of(const std::string& name) {
  if (name == "explicit-little-endian") return EXS_LittleEndianExplicit;
  if (name == "implicit-little-endian") return EXS_LittleEndianImplicit;
  if (name == "deflated-explicit-little-endian") return EXS_DeflatedLittleEndianExplicit;
  return std::nullopt;
}

std::string get(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  if (item.findAndGetOFStringArray(tag, v).good()) return v.c_str();
  return {};
}

bool ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80 || c == 0x1b) return false;  // 0x1b: an ISO 2022 escape, i.e. another charset
  return true;
}

void split_into(const std::string& s, const char* seps, std::vector<std::string>& out) {
  size_t start = 0;
  while (start <= s.size()) {
    size_t p = s.find_first_of(seps, start);
    std::string part = s.substr(start, p == std::string::npos ? std::string::npos : p - start);
    if (!part.empty()) out.push_back(part);
    if (p == std::string::npos) break;
    start = p + 1;
  }
}

class Deidentifier {
 public:
  Deidentifier(const Options& o, const std::string& target, CopyResult& r) : o_(o), target_(target), r_(r) {}

  void collect_identifiers(DcmItem& ds) {
    for (const auto& tag : {DCM_PatientName, DCM_OtherPatientNames, DCM_ReferringPhysicianName,
                            DCM_PerformingPhysicianName, DCM_OperatorsName, DCM_PatientBirthName})
      split_into(get(ds, tag), "^= \\", ids_);
    for (const auto& tag : {DCM_PatientID, DCM_RETIRED_OtherPatientIDs, DCM_AccessionNumber, DCM_StudyID,
                            DCM_InstitutionName, DCM_StationName, DCM_PatientBirthDate})
      split_into(get(ds, tag), "\\", ids_);
  }

  void apply(DcmItem& item, bool top) {
    std::vector<DcmTag> tags;
    for (unsigned long i = 0; i < item.card(); ++i) tags.push_back(item.getElement(i)->getTag());
    for (const auto& tag : tags) {
      const Action a = action_for_tag(tag.getGroup(), tag.getElement(), o_);
      if (top && (tag == DCM_PatientID || tag == DCM_PatientName)) {
        item.putAndInsertString(tag, r_.pseudonym.c_str());  // Z allows a dummy: the pseudonym
        ++r_.replaced;
        continue;
      }
      switch (a) {
        case Action::Keep:
          if (tag.getEVR() == EVR_SQ || is_sequence(item, tag)) recurse(item, tag);
          break;
        case Action::Remove:
          item.findAndDeleteElement(tag, OFFalse, OFFalse);
          ++r_.removed;
          break;
        case Action::Empty:
        case Action::Dummy:
          if (is_sequence(item, tag)) {
            item.findAndDeleteElement(tag, OFFalse, OFFalse);
            item.insertEmptyElement(tag);
          } else {
            item.putAndInsertString(tag, "");
          }
          ++r_.emptied;
          break;
        case Action::ReplaceUid: replace_uids(item, tag); break;
        case Action::Clean: clean(item, tag); break;
      }
    }
  }

 private:
  static bool is_sequence(DcmItem& item, const DcmTagKey& tag) {
    DcmElement* e = nullptr;
    return item.findAndGetElement(tag, e, OFFalse).good() && e != nullptr && e->ident() == EVR_SQ;
  }

  void recurse(DcmItem& item, const DcmTagKey& tag) {
    DcmSequenceOfItems* seq = nullptr;
    if (item.findAndGetSequence(tag, seq, OFFalse).bad() || seq == nullptr) return;
    for (unsigned long i = 0; i < seq->card(); ++i) apply(*seq->getItem(i), false);
  }

  void replace_uids(DcmItem& item, const DcmTagKey& tag) {
    std::string v = get(item, tag);
    std::vector<std::string> parts, out;
    split_into(v, "\\", parts);
    std::string joined;
    for (const auto& uid : parts) {
      const std::string d = derive_uid(o_.key, target_, uid);
      r_.uids.emplace(uid, d);
      joined += (joined.empty() ? "" : "\\") + d;
    }
    item.putAndInsertString(tag, joined.c_str());
    ++r_.replaced;
  }

  void clean(DcmItem& item, const DcmTagKey& tag) {
    std::string v = get(item, tag);
    // A value in another character set could hide a name we cannot recognise: removed.
    std::string c = ascii(v) ? clean_descriptor(v, ids_) : std::string();
    if (c.empty()) {
      item.findAndDeleteElement(tag, OFFalse, OFFalse);
      ++r_.removed;
      return;
    }
    item.putAndInsertString(tag, c.c_str());
    ++r_.cleaned;
  }

  const Options& o_;
  const std::string& target_;
  CopyResult& r_;
  std::vector<std::string> ids_;
};

void mark_deidentified(DcmDataset& ds, const Options& o) {
  ds.putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  ds.putAndInsertString(DCM_DeidentificationMethod, method_text(o).c_str());
  ds.findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
  for (const auto& code : method_codes(o)) {
    DcmItem* it = nullptr;
    if (ds.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, it, -2).good() && it != nullptr) {
      it->putAndInsertString(DCM_CodeValue, code.value);
      it->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
      it->putAndInsertString(DCM_CodeMeaning, code.meaning);
    }
  }
  ds.putAndInsertString(DCM_LongitudinalTemporalInformationModified, o.retain_dates ? "UNMODIFIED" : "REMOVED");
}

}  // namespace

bool known_transfer_syntax(const std::string& name) { return name.empty() || xfer_of(name).has_value(); }

CopyResult write_copy(const CopyRequest& rq) {
  CopyResult r;
  try {
    auto xfer = rq.transfer_syntax.empty() ? std::optional<E_TransferSyntax>{} : xfer_of(rq.transfer_syntax);
    if (!rq.transfer_syntax.empty() && !xfer) {
      r.error = "unknown transfer syntax '" + rq.transfer_syntax + "'";
      return r;
    }
    DcmFileFormat ff;
    OFCondition c = ff.loadFile(rq.in.c_str());
    if (c.bad()) {
      r.error = "cannot read " + rq.in.string() + ": " + c.text();
      return r;
    }
    DcmDataset& ds = *ff.getDataset();
    r.sop_uid = get(ds, DCM_SOPInstanceUID);
    r.study_uid = get(ds, DCM_StudyInstanceUID);
    r.patient_id = get(ds, DCM_PatientID);
    if (rq.deid) {
      r.pseudonym = pseudonym(rq.deid->key, rq.target, r.patient_id);
      Deidentifier d(*rq.deid, rq.target, r);
      d.collect_identifiers(ds);
      d.apply(ds, true);
      mark_deidentified(ds, *rq.deid);
      // The meta header names the sender and the instance: rebuilt from the dataset below.
      ff.getMetaInfo()->findAndDeleteElement(DCM_SourceApplicationEntityTitle);
      ff.getMetaInfo()->findAndDeleteElement(DCM_SendingApplicationEntityTitle);
      ff.getMetaInfo()->findAndDeleteElement(DCM_ReceivingApplicationEntityTitle);
      ff.getMetaInfo()->findAndDeleteElement(DCM_PrivateInformationCreatorUID);
      ff.getMetaInfo()->findAndDeleteElement(DCM_PrivateInformation);
    }
    const E_TransferSyntax out_xfer = xfer ? *xfer : ds.getOriginalXfer();
    if (xfer) {
      c = ds.chooseRepresentation(*xfer, nullptr);
      if (c.bad() || !ds.canWriteXfer(*xfer)) {
        r.error = "cannot convert " + rq.in.string() + " to " + rq.transfer_syntax + ": " + c.text();
        return r;
      }
    }
    c = ff.saveFile(rq.out.c_str(), out_xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                    EWM_updateMeta);
    if (c.bad()) {
      r.error = "cannot write " + rq.out.string() + ": " + c.text();
      return r;
    }
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = "cannot copy " + rq.in.string() + ": " + e.what();
  }
  return r;
}

}  // namespace pacspull::deid
