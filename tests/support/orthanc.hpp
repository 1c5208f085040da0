#pragma once
// A real Orthanc (Debian's /usr/sbin/Orthanc) playing the hospital PACS in
// integration and e2e tests. Each instance has its own generated config,
// storage and free ports under `work_dir`; plugins, authentication and remote
// access are off. C-FIND/C-GET/C-MOVE are accepted from any calling AE; a
// C-MOVE destination must be one of the known modalities.
//
// Thread-safety: an OrthancPacs object is not safe for concurrent use; the
// Orthanc process it runs serves any number of concurrent DICOM/HTTP clients.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "peers.hpp"
#include "process.hpp"

namespace pacspull::testing {

struct OrthancOptions {
  // Encoding of C-FIND answers and of stored tags without SpecificCharacterSet
  // (Orthanc "DefaultEncoding": Latin1, Utf8, Gb18030, ...).
  std::string default_encoding = "Utf8";
  // Orthanc "LimitFindResults": a cap on C-FIND answers (0 = none), like a
  // cheap PACS.
  unsigned limit_find_results = 0;
  // Orthanc "SynchronousCMove": the C-MOVE response is sent after all
  // sub-operations.
  bool synchronous_cmove = true;
  // Orthanc's own "StableAge" (seconds) for its stable-study events.
  unsigned stable_age_seconds = 2;
  // Extra top-level members spliced into the JSON config verbatim, e.g.
  // "\"Name\": \"X\"".
  std::vector<std::string> extra_config;
};

class OrthancPacs {
 public:
  // Starts Orthanc on free DICOM and HTTP ports and waits until GET /system
  // answers. Each known modality is registered under its AE title as name.
  // Throws std::runtime_error with the log tail.
  OrthancPacs(std::filesystem::path work_dir, std::string ae_title, std::vector<DicomNode> modalities,
              OrthancOptions options = {});
  ~OrthancPacs();
  OrthancPacs(const OrthancPacs&) = delete;
  OrthancPacs& operator=(const OrthancPacs&) = delete;

  uint16_t dicom_port() const { return dicom_port_; }
  uint16_t http_port() const { return http_port_; }
  const std::string& ae_title() const { return ae_title_; }
  DicomNode node() const { return {ae_title_, "127.0.0.1", dicom_port_}; }
  const std::filesystem::path& log_path() const { return log_; }
  const std::filesystem::path& work_dir() const { return work_dir_; }

  // C-STOREs every *.dcm below `dir_or_file` (or the single file) with DCMTK
  // storescu in one association. Throws if storescu fails or any file is not
  // acknowledged with success.
  void upload(const std::filesystem::path& dir_or_file);
  // Number of instances stored, from REST /statistics. Throws if Orthanc does
  // not answer.
  size_t instance_count();
  // Registers (or replaces) a C-MOVE destination at run time (REST PUT
  // /modalities/<name>); it is also written into the config used by restart().
  void add_modality(const std::string& name, const DicomNode& node);

  // GET/PUT/POST/DELETE on the REST API; returns the body of a 2xx answer,
  // throws otherwise.
  std::string rest(const std::string& method, const std::string& path, const std::string& body = {});

  // SIGTERM and wait; SIGKILL (no clean shutdown, like a crash); start again on
  // the same ports with the same storage and persisted jobs.
  void stop();
  void kill9();
  void restart();
  bool running() { return process_.running(); }

 private:
  void write_config() const;
  // Throws if Orthanc never answers; returns false if it exited during start-up.
  bool start_once();
  void start();

  std::filesystem::path work_dir_;
  std::string ae_title_;
  std::map<std::string, DicomNode> modalities_;
  OrthancOptions options_;
  uint16_t dicom_port_ = 0;
  uint16_t http_port_ = 0;
  std::filesystem::path config_;
  std::filesystem::path log_;
  ChildProcess process_;
};

// Minimal HTTP/1.0 client for Orthanc's REST API on 127.0.0.1 (no TLS, no
// auth).
struct HttpResponse {
  int status = 0;  // 0 = no answer (connection refused, timeout, garbage)
  std::string body;
};
HttpResponse http_request(uint16_t port, const std::string& method, const std::string& path,
                          const std::string& body = {}, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace pacspull::testing
