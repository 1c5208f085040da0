#pragma once
// A real RIS for tests: DCMTK's wlmscpfs (Basic Worklist Management SCP) serving worklist
// files made by dump2dcm from text dumps in <dir>/<AE title>/*.wl (plus the `lockfile`
// wlmscpfs wants). Text values are written as raw bytes, so a test can hand over GBK
// without a SpecificCharacterSet, like a RIS that never declares one. Files may be added
// while it runs (wlmscpfs reads them per query). Header-only: shared by the DICOM, service
// and e2e tests. Not thread-safe.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

#include "process.hpp"

namespace pacspull::testing {

struct WorklistEntry {
  std::string accession, patient_id, patient_name = "TEST^PATIENT";
  std::string study_uid;
  std::string procedure_description;  // RequestedProcedureDescription (raw bytes)
  std::string code_value, code_meaning;
  std::string step_description;
  std::string modality = "CT";
  std::string date = "20261201", time = "101500";  // scheduled step start, local
  std::string priority = "ROUTINE";
  std::optional<std::string> charset;  // SpecificCharacterSet; nullopt: not declared
  // ScheduledProcedureStepID; "" = "SPS-<accession>". One order may have several steps
  // (one worklist file each): give each its own step_id.
  std::string step_id;
  // ScheduledProcedureStepStatus (0040,0020); "" = not in the file. Rewriting a step with
  // add() (same accession and step_id) and status "CANCELED" is a RIS cancelling it.
  std::string status;
};

class WorklistRis {
 public:
  WorklistRis(std::filesystem::path dir, std::string ae_title) : dir_(std::move(dir)), ae_(std::move(ae_title)) {
    std::filesystem::create_directories(dir_ / ae_);
    std::ofstream(dir_ / ae_ / "lockfile").flush();
  }
  ~WorklistRis() { stop(); }
  WorklistRis(const WorklistRis&) = delete;
  WorklistRis& operator=(const WorklistRis&) = delete;

  const std::string& ae_title() const { return ae_; }
  uint16_t port() const { return port_; }

  // Writes (or rewrites: the file is named by accession and step_id) one step's worklist file.
  void add(const WorklistEntry& e) {
    const std::string name = e.accession + (e.step_id.empty() ? "" : "-" + e.step_id);
    const std::filesystem::path dump = dir_ / (name + ".dump");
    {
      std::ofstream out(dump, std::ios::binary);
      if (e.charset) out << "(0008,0005) CS [" << *e.charset << "]\n";
      out << "(0008,0050) SH [" << e.accession << "]\n"
          << "(0010,0010) PN [" << e.patient_name << "]\n"
          << "(0010,0020) LO [" << e.patient_id << "]\n";
      // wlmscpfs rejects a worklist file without StudyInstanceUID (an incomplete order).
      out << "(0020,000d) UI [" << (e.study_uid.empty() ? "1.2.826.0.1.3680043.9.7435." + std::to_string(++files_) : e.study_uid)
          << "]\n";
      out << "(0032,1060) LO [" << e.procedure_description << "]\n";
      if (!e.code_value.empty() || !e.code_meaning.empty())
        out << "(0032,1064) SQ (Sequence with explicit length #=1)\n"
            << "  (fffe,e000) na (Item with explicit length #=3)\n"
            << "    (0008,0100) SH [" << e.code_value << "]\n"
            << "    (0008,0102) SH [HOSP]\n"
            << "    (0008,0104) LO [" << e.code_meaning << "]\n"
            << "  (fffe,e00d) na (ItemDelimitationItem)\n"
            << "(fffe,e0dd) na (SequenceDelimitationItem)\n";
      out << "(0040,0100) SQ (Sequence with explicit length #=1)\n"
          << "  (fffe,e000) na (Item with explicit length #=6)\n"
          << "    (0008,0060) CS [" << e.modality << "]\n"
          << "    (0040,0001) AE [STATION1]\n"
          << "    (0040,0002) DA [" << e.date << "]\n"
          << "    (0040,0003) TM [" << e.time << "]\n"
          << "    (0040,0007) LO [" << e.step_description << "]\n"
          << "    (0040,0009) SH [" << (e.step_id.empty() ? "SPS-" + e.accession : e.step_id) << "]\n"
          << (e.status.empty() ? std::string() : "    (0040,0020) CS [" + e.status + "]\n")
          << "  (fffe,e00d) na (ItemDelimitationItem)\n"
          << "(fffe,e0dd) na (SequenceDelimitationItem)\n"
          << "(0040,1001) SH [RP-" << e.accession << "]\n"
          << "(0040,1003) SH [" << e.priority << "]\n";
    }
    // Written aside, then renamed: a running wlmscpfs (it reads *.wl per query) never sees half a file.
    const std::filesystem::path wl = dir_ / ae_ / (name + ".wl");
    const std::filesystem::path part = dir_ / ae_ / (name + ".wl.part");
    if (run_command({"dump2dcm", "-q", "-g", "+te", dump.string(), part.string()}, std::chrono::seconds(20),
                    dir_ / "dump2dcm.log") != 0)
      throw std::runtime_error("dump2dcm failed for " + dump.string() + ": " + read_file(dir_ / "dump2dcm.log"));
    std::filesystem::rename(part, wl);
  }

  // Starts wlmscpfs on a free port (returning the file's own SpecificCharacterSet: -csk;
  // -dfr: a sparse order, e.g. without a step description, is served, not dropped)
  // and waits until it listens.
  void start() {
    stop();
    if (port_ == 0) port_ = free_tcp_port();
    process_ = ChildProcess::spawn({"wlmscpfs", "-dfp", dir_.string(), "-dfr", "-csk", "--single-process", "-ta", "10", "-td",
                                    "10", std::to_string(port_)},
                                   {}, dir_ / "wlmscpfs.log");
    if (!wait_for([&] { return tcp_port_open(port_); }, std::chrono::seconds(20)))
      throw std::runtime_error("wlmscpfs did not listen on " + std::to_string(port_) + ": " +
                               read_file(dir_ / "wlmscpfs.log"));
    running_ = true;
  }
  // Stops it (the port stays reserved for a restart); a stopped RIS refuses connections.
  void stop() {
    if (running_) process_.stop(std::chrono::seconds(5));
    running_ = false;
  }

 private:
  std::filesystem::path dir_;
  std::string ae_;
  uint16_t port_ = 0;
  int files_ = 0;
  bool running_ = false;
  ChildProcess process_;
};

}  // namespace pacspull::testing
