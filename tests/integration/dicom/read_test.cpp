// read_attributes against files written by other tools (pydicom's shipped test files and
// files pydicom writes here), cross-checked with pydicom's own raw bytes; and bad files.
#include <catch2/catch.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include "pacspull/dicom/read.hpp"
#include "support.hpp"

using namespace pacspull::dicom;
using namespace pacspull::dicom::testing;

namespace {

const std::vector<std::string> kTextKeywords{"PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID",
                                             "SOPInstanceUID", "SOPClassUID", "Modality", "ImageType",
                                             "SliceThickness", "StudyDate", "SpecificCharacterSet",
                                             "StudyDescription", "BodyPartExamined"};

// pydicom's view: keyword -> raw bytes.
std::map<std::string, std::string> pydicom_raw(const fs::path& file) {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-dump");
  const fs::path out = dir / "dump.txt";
  std::vector<std::string> argv{"/usr/bin/python3", helper_script("dump_raw.py").string(), file.string()};
  argv.insert(argv.end(), kTextKeywords.begin(), kTextKeywords.end());
  REQUIRE(pacspull::testing::run_command(argv, std::chrono::seconds(60), out) == 0);
  std::map<std::string, std::string> values;
  std::istringstream lines(pacspull::testing::read_file(out));
  std::string keyword, hex;
  while (lines >> keyword >> hex) {
    std::string bytes;
    if (hex != "-") {
      for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    values[keyword] = bytes;
  }
  fs::remove_all(dir);
  return values;
}

fs::path write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace

TEST_CASE("read_attributes gives the raw bytes pydicom sees", "[read]") {
  for (const char* name : {"CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", "ExplVR_BigEnd.dcm",
                           "ExplVR_LitEndNoMeta.dcm", "rtplan.dcm"}) {
    INFO(name);
    const fs::path file = pydicom_file(name);
    ReadResult result = read_attributes(file);
    REQUIRE(result.attributes.has_value());
    CHECK(result.error.empty());
    const auto expected = pydicom_raw(file);
    REQUIRE(expected.size() >= 3);
    for (const auto& [keyword, bytes] : expected) {
      INFO(keyword);
      auto value = result.attributes->get(keyword);
      REQUIRE(value.has_value());
      CHECK(std::string(*value) == bytes);
    }
    // No sequences, no pixel data, no group lengths.
    CHECK_FALSE(result.attributes->has("PixelData"));
    for (const auto& [keyword, value] : result.attributes->all()) CHECK(keyword.find("GroupLength") == std::string::npos);
  }
}

TEST_CASE("read_attributes renders binary numbers as text", "[read]") {
  ReadResult result = read_attributes(pydicom_file("CT_small.dcm"));
  REQUIRE(result.attributes);
  CHECK(result.attributes->integer("Rows") == 128);
  CHECK(result.attributes->integer("Columns") == 128);
  CHECK(result.attributes->integer("BitsAllocated") == 16);
}

TEST_CASE("read_attributes keeps mis-declared non-ASCII bytes untouched", "[read]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-read");
  // GB18030 "胸" (D0 D8) + " CHEST", declared as Latin-1 — the field's mojibake case.
  const auto made = make_instances(dir / "files", {"--set", "StudyDescription=d0d8204348455354"});
  REQUIRE(made.size() == 1);
  ReadResult result = read_attributes(made[0].path);
  REQUIRE(result.attributes);
  CHECK(std::string(*result.attributes->get("StudyDescription")) == std::string("\xD0\xD8 CHEST"));
  CHECK(result.attributes->trimmed("SpecificCharacterSet") == "ISO_IR 100");
  CHECK(result.attributes->trimmed("SOPInstanceUID") == made[0].sop);
  fs::remove_all(dir);
}

TEST_CASE("read_attributes rejects unreadable files without crashing", "[read]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-read");
  const std::string ct = pacspull::testing::read_file(pydicom_file("CT_small.dcm"));
  std::mt19937 rng(42);
  std::string garbage(8192, '\0');
  for (auto& c : garbage) c = static_cast<char>(rng());

  std::vector<fs::path> bad{
      write_bytes(dir / "empty.dcm", ""),
      write_bytes(dir / "garbage.bin", garbage),
      write_bytes(dir / "text.txt", "this is not a DICOM file, just some text\n"),
      write_bytes(dir / "cut-in-meta.dcm", ct.substr(0, 200)),
      write_bytes(dir / "cut-in-dataset.dcm", ct.substr(0, 700)),
      dir / "does-not-exist.dcm",
      dir,
  };
  for (const auto& file : bad) {
    INFO(file.string());
    ReadResult result = read_attributes(file);
    CHECK_FALSE(result.attributes.has_value());
    CHECK_FALSE(result.error.empty());
  }
  // Cut inside the pixel data: the header is intact and parsing stops before PixelData.
  ReadResult cut_pixels = read_attributes(write_bytes(dir / "cut-in-pixels.dcm", ct.substr(0, ct.size() - 1000)));
  REQUIRE(cut_pixels.attributes);
  CHECK(cut_pixels.attributes->trimmed("Modality") == "CT");
  fs::remove_all(dir);
}
