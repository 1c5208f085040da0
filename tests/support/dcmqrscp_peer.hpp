#pragma once
// DCMTK's dcmqrscp as a second, real PACS for the retrieval tests: its own database
// directory and free port, the move destinations it knows (HostTable), and an association
// profile with SCP role selection for the storage classes, without which dcmqrscp answers
// every C-GET with "success, 0 sub-operations" (dcmqrscp(1): "an appropriate profile for
// role negotiation must be defined and used for enabling GET support"). Header-only.
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "peers.hpp"
#include "process.hpp"

namespace pacspull::testing {

class DcmQrScpPeer {
 public:
  DcmQrScpPeer(std::filesystem::path dir, std::string ae_title, std::vector<DicomNode> destinations)
      : dir_(std::move(dir)), ae_(std::move(ae_title)), destinations_(std::move(destinations)) {
    std::filesystem::create_directories(dir_ / "db");
    port_ = free_tcp_port();
    write_config();
    start();
  }
  ~DcmQrScpPeer() { stop(); }
  DcmQrScpPeer(const DcmQrScpPeer&) = delete;
  DcmQrScpPeer& operator=(const DcmQrScpPeer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& ae_title() const { return ae_; }
  DicomNode node() const { return {ae_, "127.0.0.1", port_}; }
  std::filesystem::path log() const { return dir_ / "dcmqrscp.log"; }

  void start() {
    process_ = ChildProcess::spawn({"dcmqrscp", "-c", (dir_ / "dcmqrscp.cfg").string(), "-xf",
                                    (dir_ / "get.cfg").string(), "Get", "Out"},
                                   dicom_tool_env(), log());
    if (!wait_for([&] { return tcp_port_open(port_); }, std::chrono::seconds(20)))
      throw std::runtime_error("dcmqrscp did not start: " + log_tail(log()));
  }
  void stop() {
    if (process_.running()) process_.stop(std::chrono::seconds(10));
  }
  // storescu of every file below `dir` (one association); throws when storescu fails.
  void upload(const std::filesystem::path& dir) {
    const int rc = run_command({"storescu", "-aec", ae_, "+sd", "+r", "-to", "20", "-ta", "20", "-td", "60",
                                "127.0.0.1", std::to_string(port_), dir.string()},
                               std::chrono::seconds(300), dir_ / "storescu.log", dicom_tool_env());
    if (rc != 0) throw std::runtime_error("storescu to dcmqrscp failed: " + log_tail(dir_ / "storescu.log"));
  }

 private:
  void write_config() const {
    std::ofstream cfg(dir_ / "dcmqrscp.cfg");
    cfg << "NetworkTCPPort = " << port_ << "\nMaxPDUSize = 16384\nMaxAssociations = 16\nHostTable BEGIN\n";
    for (size_t i = 0; i < destinations_.size(); ++i)
      cfg << "dest" << i << " = (" << destinations_[i].ae_title << ", " << destinations_[i].host << ", "
          << destinations_[i].port << ")\n";
    cfg << "HostTable END\nVendorTable BEGIN\nVendorTable END\nAETable BEGIN\n"
        << ae_ << " " << (dir_ / "db").string() << " RW (2000, 4096mb) ANY\nAETable END\n";
    const std::vector<std::string> classes{
        "ComputedRadiographyImageStorage", "DigitalXRayImageStorageForPresentation",
        "DigitalXRayImageStorageForProcessing", "CTImageStorage", "EnhancedCTImageStorage", "MRImageStorage",
        "EnhancedMRImageStorage", "UltrasoundImageStorage", "UltrasoundMultiframeImageStorage",
        "SecondaryCaptureImageStorage", "XRayAngiographicImageStorage", "XRayRadiofluoroscopicImageStorage",
        "NuclearMedicineImageStorage", "PositronEmissionTomographyImageStorage",
        "GrayscaleSoftcopyPresentationStateStorage", "BasicTextSRStorage", "EnhancedSRStorage",
        "ComprehensiveSRStorage", "DigitalMammographyXRayImageStorageForPresentation"};
    std::ofstream get(dir_ / "get.cfg");
    get << "[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = LocalEndianExplicit\n"
           "TransferSyntax2 = OppositeEndianExplicit\nTransferSyntax3 = LittleEndianImplicit\n"
           "[[PresentationContexts]]\n[GetContexts]\n";
    for (size_t i = 0; i < classes.size(); ++i)
      get << "PresentationContext" << i + 1 << " = " << classes[i] << "\\Uncompressed\n";
    get << "[[SCPSCURoleSelection]]\n[GetRoles]\n";
    for (size_t i = 0; i < classes.size(); ++i) get << "Role" << i + 1 << " = " << classes[i] << "\\BOTH\n";
    get << "[[Profiles]]\n[Get]\nPresentationContexts = GetContexts\nSCPSCURoleSelection = GetRoles\n"
           "[Out]\nPresentationContexts = GetContexts\n";
  }

  std::filesystem::path dir_;
  std::string ae_;
  std::vector<DicomNode> destinations_;
  uint16_t port_ = 0;
  ChildProcess process_;
};

}  // namespace pacspull::testing
