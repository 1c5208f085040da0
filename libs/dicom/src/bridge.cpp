#include "bridge.hpp"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dctag.h"
#include "dcmtk/dcmdata/dcvr.h"

namespace pacspull::dicom::detail {
namespace {

enum class ValueKind { Text, Number, Skip };

ValueKind kind_of(DcmEVR vr) {
  switch (vr) {
    case EVR_AE: case EVR_AS: case EVR_CS: case EVR_DA: case EVR_DS: case EVR_DT: case EVR_IS:
    case EVR_LO: case EVR_LT: case EVR_PN: case EVR_SH: case EVR_ST: case EVR_TM: case EVR_UC:
    case EVR_UI: case EVR_UR: case EVR_UT:
      return ValueKind::Text;
    case EVR_US: case EVR_UL: case EVR_SS: case EVR_SL: case EVR_FL: case EVR_FD: case EVR_AT:
    case EVR_SV: case EVR_UV:
      return ValueKind::Number;
    default:  // SQ, OB, OW, OF, OD, OL, OV, UN, pixel data and DCMTK-internal VRs
      return ValueKind::Skip;
  }
}

bool wanted_tag(const DcmTagKey& key) {
  if (key.getElement() == 0x0000) return false;  // group lengths
  if (key.getGroup() & 1u) return false;         // private
  if (key.getGroup() == 0x7FE0) return false;    // pixel data family
  if (key.getGroup() >= 0xFFFA) return false;    // items, delimiters, digital signatures
  return true;
}

}  // namespace

core::AttributeMap to_attributes(DcmItem& item) {
  core::AttributeMap out;
  const unsigned long count = item.card();
  for (unsigned long i = 0; i < count; ++i) {
    DcmElement* element = item.getElement(i);
    if (element == nullptr) continue;
    DcmTag tag = element->getTag();
    if (!wanted_tag(tag)) continue;
    const ValueKind kind = kind_of(element->ident());
    if (kind == ValueKind::Skip) continue;
    const char* keyword = tag.getTagName();
    if (keyword == nullptr || std::string(keyword) == DcmTag_ERROR_TagName) continue;

    if (kind == ValueKind::Text) {
      char* value = nullptr;
      Uint32 length = 0;
      if (element->getString(value, length).good() && value != nullptr) {
        out.set(keyword, std::string(value, length));
      } else {
        out.set(keyword, "");
      }
    } else {
      OFString value;
      if (element->getOFStringArray(value).good()) {
        out.set(keyword, std::string(value.c_str(), value.length()));
      } else {
        out.set(keyword, "");
      }
    }
  }
  return out;
}

std::string put_attributes(const core::AttributeMap& attributes, DcmItem& item) {
  for (const auto& [keyword, value] : attributes.all()) {
    DcmTag tag;
    if (DcmTag::findTagFromName(keyword.c_str(), tag).bad()) return "unknown DICOM keyword '" + keyword + "'";
    OFCondition cond = item.putAndInsertString(tag, value.data(), static_cast<Uint32>(value.size()));
    if (cond.bad()) return "cannot set " + keyword + ": " + cond.text();
  }
  return {};
}

}  // namespace pacspull::dicom::detail
