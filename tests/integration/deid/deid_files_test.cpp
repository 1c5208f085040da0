// De-identification of the generated day's files (every study of the e2e profile, charset
// problems included): no attribute the Basic Profile removes or empties is left with a
// value, UIDs are replaced consistently per target, PixelData is byte for byte the same,
// the original is untouched, dcmdump parses the copy and dciodvfy (dicom3tools) reports no
// error the original did not have.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "pacspull/deid/copy.hpp"
#include "peers.hpp"
#include "process.hpp"

namespace fs = std::filesystem;
using namespace pacspull;
using namespace pacspull::testing;

namespace {

std::vector<fs::path> day_files(const fs::path& day) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(day))
    if (e.is_regular_file() && e.path().extension() == ".dcm") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string get(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  return item.findAndGetOFStringArray(tag, v).good() ? std::string(v.c_str()) : std::string();
}

std::string pixel_bytes(DcmDataset& ds) {
  DcmElement* e = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, e).bad() || e == nullptr) return {};
  Uint8* p = nullptr;
  if (e->getUint8Array(p).bad() || p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p), e->getLength());
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every attribute (at any depth) that the profile says must not carry its original value.
void check_no_phi(DcmItem& item, const deid::Options& o, const std::string& where, bool top,
                  std::vector<std::string>& problems) {
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* e = item.getElement(i);
    DcmTag t = e->getTag();
    const deid::Action a = deid::action_for_tag(t.getGroup(), t.getElement(), o);
    const std::string name = std::string(t.getTagName()) + " " + where;
    if (a == deid::Action::Remove) problems.push_back("still present: " + name);
    if (a == deid::Action::Empty && e->getLength() > 0) {
      const bool pseudonymised = top && (t == DCM_PatientID || t == DCM_PatientName) && get(item, t).rfind("PP", 0) == 0;
      if (!pseudonymised) problems.push_back("not empty: " + name + " = " + get(item, t));
    }
    if (a == deid::Action::ReplaceUid && e->getLength() > 0 && get(item, t).rfind("2.25.", 0) != 0)
      problems.push_back("UID not replaced: " + name + " = " + get(item, t));
    if (e->ident() == EVR_SQ) {
      auto* seq = static_cast<DcmSequenceOfItems*>(e);
      for (unsigned long k = 0; k < seq->card(); ++k) check_no_phi(*seq->getItem(k), o, name, false, problems);
    }
  }
}

std::set<std::string> dciodvfy_errors(const fs::path& file, const fs::path& log) {
  fs::remove(log);
  run_command({"dciodvfy", file.string()}, std::chrono::seconds(60), log);
  std::set<std::string> errors;
  std::istringstream in(read_file(log));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("Error", 0) == 0) errors.insert(line);
  return errors;
}

}  // namespace

TEST_CASE("De-identified copies of the generated day: no PHI left, pixels untouched, still valid") {
  REQUIRE(run_command({"sh", "-c", "command -v dciodvfy"}, std::chrono::seconds(10)) == 0);  // deploy/setup.sh installs dicom3tools
  const fs::path dir = make_temp_dir("deid-files");
  run_gen_day(dir / "day");
  const auto files = day_files(dir / "day");
  REQUIRE(files.size() > 50);

  struct Variant {
    std::string target;
    deid::Options options;
    std::string transfer_syntax;
  };
  const std::vector<Variant> variants{
      {"ct-ai", deid::Options{false, false, false, "site-secret"}, ""},
      {"dx-ai", deid::Options{false, true, true, "site-secret"}, "explicit-little-endian"},
      {"uids-kept", deid::Options{true, false, true, "site-secret"}, "implicit-little-endian"},
  };
  std::map<std::string, std::map<std::string, std::string>> study_map;  // target -> original -> derived
  std::set<std::string> series_checked;
  size_t copies = 0, dciodvfy_runs = 0;
  for (const auto& f : files) {
    const std::string before = file_bytes(f);
    DcmFileFormat orig;
    REQUIRE(orig.loadFile(f.c_str()).good());
    const std::string orig_study = get(*orig.getDataset(), DCM_StudyInstanceUID);
    const std::string orig_series = get(*orig.getDataset(), DCM_SeriesInstanceUID);
    const std::string orig_sop = get(*orig.getDataset(), DCM_SOPInstanceUID);
    const std::string orig_pid = get(*orig.getDataset(), DCM_PatientID);
    for (const auto& v : variants) {
      const fs::path out = dir / "out" / v.target / (f.parent_path().filename().string() + "-" + f.filename().string());
      fs::create_directories(out.parent_path());
      deid::CopyResult r = deid::write_copy({f, out, v.options, v.target, v.transfer_syntax});
      INFO(f.string() << " -> " << v.target << ": " << r.error);
      REQUIRE(r.ok);
      ++copies;
      CHECK(r.sop_uid == orig_sop);
      CHECK(r.pseudonym == deid::pseudonym("site-secret", v.target, orig_pid));

      DcmFileFormat copy;
      REQUIRE(copy.loadFile(out.c_str()).good());
      DcmDataset& ds = *copy.getDataset();
      std::vector<std::string> problems;
      check_no_phi(ds, v.options, "", true, problems);
      INFO(problems.size() << " problems, first: " << (problems.empty() ? "" : problems.front()));
      CHECK(problems.empty());
      CHECK(get(ds, DCM_PatientIdentityRemoved) == "YES");
      CHECK(get(ds, DCM_PatientID) == r.pseudonym);
      CHECK(pixel_bytes(ds) == pixel_bytes(*orig.getDataset()));
      if (orig.getDataset()->tagExists(DCM_PixelData)) CHECK_FALSE(pixel_bytes(ds).empty());
      if (v.options.retain_uids) {
        CHECK(get(ds, DCM_SOPInstanceUID) == orig_sop);
        CHECK(get(ds, DCM_StudyInstanceUID) == orig_study);
      } else {
        const std::string sop = get(ds, DCM_SOPInstanceUID);
        CHECK(sop == deid::derive_uid("site-secret", v.target, orig_sop));
        CHECK(r.uids.at(orig_sop) == sop);
        CHECK(get(*copy.getMetaInfo(), DCM_MediaStorageSOPInstanceUID) == sop);
        // One study, one derived UID per target, whatever instance carried it.
        auto [it, fresh] = study_map[v.target].emplace(orig_study, get(ds, DCM_StudyInstanceUID));
        CHECK(it->second == get(ds, DCM_StudyInstanceUID));
        CHECK(it->second != orig_study);
      }
      if (v.options.retain_dates) CHECK(get(ds, DCM_StudyDate) == get(*orig.getDataset(), DCM_StudyDate));
      if (!v.transfer_syntax.empty()) {
        const std::string want = v.transfer_syntax == "explicit-little-endian" ? "1.2.840.10008.1.2.1" : "1.2.840.10008.1.2";
        CHECK(get(*copy.getMetaInfo(), DCM_TransferSyntaxUID) == want);
      }
      // DCMTK parsed every copy above; dcmdump and dciodvfy check one instance per series and
      // variant (a process per file would be most of the test's time).
      if (series_checked.insert(v.target + "/" + orig_series).second) {
        CHECK(run_command({"dcmdump", "-q", out.string()}, std::chrono::seconds(30), dir / "dcmdump.log") == 0);
        ++dciodvfy_runs;
        auto before_errors = dciodvfy_errors(f, dir / "dciodvfy-orig.log");
        auto after_errors = dciodvfy_errors(out, dir / "dciodvfy-copy.log");
        std::vector<std::string> fresh_errors;
        for (const auto& e : after_errors)
          if (!before_errors.count(e)) fresh_errors.push_back(e);
        INFO("dciodvfy of " << out << ":\n" << read_file(dir / "dciodvfy-copy.log"));
        CHECK(fresh_errors.empty());
      }
    }
    CHECK(file_bytes(f) == before);  // the store's original is never modified
  }
  // Different targets never share derived UIDs.
  for (const auto& [orig, ct] : study_map["ct-ai"]) CHECK(study_map["dx-ai"].at(orig) != ct);
  WARN("de-identified " << copies << " copies of " << files.size() << " files; dciodvfy on " << dciodvfy_runs);
  fs::remove_all(dir);
}
