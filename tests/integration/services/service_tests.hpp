#pragma once
// What the service integration tests share: where the service binaries are, and one
// generated study (make_dated_study.py, beside this file) uploaded to Orthanc.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "orthanc.hpp"
#include "process.hpp"

namespace pacspull::testing {

// A binary of this build (pacspull-<service>, pullctl): PACSPULL_BINARY_DIR/bin/<name>.
inline std::filesystem::path bin(const std::string& name) {
  return std::filesystem::path(env_or("PACSPULL_BINARY_DIR", "build")) / "bin" / name;
}

// Writes one study of `modality` taken on `date` (YYYYMMDD) at `time` (HHMMSS) into `out`
// (`instances` of them, the script's default when 0); returns its StudyInstanceUID.
inline std::string make_dated_study(const std::filesystem::path& out, const std::string& date,
                                    const std::string& time, const std::string& modality, int instances = 0) {
  const std::filesystem::path listing = out.string() + ".uid";
  std::vector<std::string> argv{"/usr/bin/python3",
                                (std::filesystem::path(PACSPULL_SERVICES_TEST_DIR) / "make_dated_study.py").string(),
                                out.string(), date, time, modality};
  if (instances > 0) argv.insert(argv.end(), {"--instances", std::to_string(instances)});
  REQUIRE(run_command(argv, std::chrono::seconds(60), listing) == 0);
  std::string uid = read_file(listing);
  while (!uid.empty() && (uid.back() == '\n' || uid.back() == ' ')) uid.pop_back();
  return uid;
}

// The same study, uploaded to `pacs`.
inline std::string add_dated_study(OrthancPacs& pacs, const std::filesystem::path& out, const std::string& date,
                                   const std::string& time, const std::string& modality, int instances = 0) {
  std::string uid = make_dated_study(out, date, time, modality, instances);
  pacs.upload(out);
  return uid;
}

}  // namespace pacspull::testing
