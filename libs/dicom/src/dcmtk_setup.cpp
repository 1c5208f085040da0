#include "dcmtk_setup.hpp"

#include <mutex>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcobject.h"
#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/oflog/oflog.h"

namespace pacspull::dicom::detail {

void ensure_dcmtk_setup() {
  static std::once_flag once;
  std::call_once(once, [] {
    dcmEnableAutomaticInputDataCorrection.set(OFFalse);
    dcmDisableGethostbyaddr.set(OFTrue);
    OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
  });
}

}  // namespace pacspull::dicom::detail
