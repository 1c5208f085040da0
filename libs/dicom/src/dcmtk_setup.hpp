#pragma once
// Process-wide DCMTK settings this library relies on, applied once before any DCMTK use.
namespace pacspull::dicom::detail {

// - no automatic "input data correction": we want the bytes as they arrived;
// - no reverse DNS per association (a broken resolver must not stall the receiver);
// - DCMTK's own logger at ERROR: we log every degraded path ourselves via spdlog.
// Thread-safe; cheap after the first call.
void ensure_dcmtk_setup();

}  // namespace pacspull::dicom::detail
