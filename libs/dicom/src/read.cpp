#include "pacspull/dicom/read.hpp"

#include <exception>

#include "bridge.hpp"
#include "dcmtk_setup.hpp"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"

namespace pacspull::dicom {

ReadResult read_attributes(const std::filesystem::path& file) {
  detail::ensure_dcmtk_setup();
  try {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return {std::nullopt, "not a regular file: " + file.string()};
    DcmFileFormat format;
    OFCondition cond = format.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                               ERM_autoDetect, DCM_PixelData);
    if (cond.bad()) return {std::nullopt, "cannot parse " + file.string() + ": " + cond.text()};
    DcmDataset* dataset = format.getDataset();
    if (dataset == nullptr) return {std::nullopt, "no dataset in " + file.string()};
    // DCMTK reads almost any byte soup as an implicit-VR dataset when there is no "DICM"
    // preamble; only accept such a file if it looks like a stored instance.
    DcmMetaInfo* meta = format.getMetaInfo();
    const bool has_meta = meta != nullptr && meta->card() > 0;
    if (!has_meta && !dataset->tagExists(DCM_SOPInstanceUID) && !dataset->tagExists(DCM_SOPClassUID)) {
      return {std::nullopt, "not DICOM (no meta header, no SOP UIDs): " + file.string()};
    }
    return {detail::to_attributes(*dataset), {}};
  } catch (const std::exception& e) {
    return {std::nullopt, "cannot read " + file.string() + ": " + e.what()};
  }
}

}  // namespace pacspull::dicom
