#include "status.hpp"

#include <cstdio>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/ofstd/ofcond.h"

namespace pacspull::dicom::detail {

std::string hex_status(uint16_t status) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", status);
  return buf;
}

Error network_error(std::string_view what, const OFCondition& cond) {
  return {ErrorClass::Retryable, std::string(what) + ": " + cond.text()};
}

Error status_error(std::string_view what, uint16_t status) {
  std::string message = std::string(what) + " failed with status " + hex_status(status);
  const uint16_t family = status & 0xF000;
  if (status == 0xA801) return {ErrorClass::Permanent, message + " (move destination unknown)"};
  if ((status & 0xFF00) == 0xA700) return {ErrorClass::Retryable, message + " (out of resources)"};
  if (status == 0xFE00) return {ErrorClass::Retryable, message + " (cancelled)"};
  if (family == 0xC000) return {ErrorClass::Retryable, message + " (unable to process)"};
  if (family == 0xB000) return {ErrorClass::Retryable, message + " (warning: some sub-operations failed)"};
  if ((status & 0xFF00) == 0xA900) return {ErrorClass::Permanent, message + " (identifier does not match SOP class)"};
  return {ErrorClass::Permanent, message};
}

}  // namespace pacspull::dicom::detail
