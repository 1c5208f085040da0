// find(), move() and store() against real peers: Orthanc (C-FIND / C-MOVE to our StoreScp),
// DCMTK storescp (C-STORE), plus unreachable and silent peers for the timeout paths.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>

#include "pacspull/dicom/read.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/dicom/storage.hpp"
#include "pacspull/dicom/store_scp.hpp"
#include "orthanc.hpp"
#include "peers.hpp"
#include "support.hpp"

using namespace pacspull::dicom;
using namespace pacspull::dicom::testing;
using pacspull::core::AeTitle;
using pacspull::core::AttributeMap;
using pacspull::core::SeriesUid;
using pacspull::core::StudyUid;

namespace {

ScuOptions scu_options() {
  ScuOptions o;
  o.calling_ae = AeTitle("PACSPULL");
  o.connect_timeout = std::chrono::seconds(3);
  o.acse_timeout = std::chrono::seconds(3);
  o.dimse_timeout = std::chrono::seconds(10);
  return o;
}

// One Orthanc for this file's tests, holding 2 studies (2 series x 3 CT instances each),
// with our receiver registered as modality PACSPULL_RCV.
struct OrthancWorld {
  fs::path dir = pacspull::testing::make_temp_dir("pacspull-scu");
  RecordingSink sink;
  std::unique_ptr<StoreScp> receiver;
  uint16_t receiver_port = 0;
  std::unique_ptr<pacspull::testing::OrthancPacs> orthanc;
  std::vector<TestInstance> files;

  OrthancWorld() {
    StoreScp::Options o;
    o.ae_title = AeTitle("PACSPULL_RCV");
    o.bind_host = "127.0.0.1";
    o.storage_root = dir / "received";
    o.callers.callers = {{AeTitle("ORTHANC"), {}, "pacs orthanc"}};
    o.acse_timeout = std::chrono::seconds(10);
    o.dimse_timeout = std::chrono::seconds(10);
    receiver = std::make_unique<StoreScp>(o, sink.as_sink());
    receiver_port = receiver->start();
    orthanc = std::make_unique<pacspull::testing::OrthancPacs>(
        dir / "orthanc", "ORTHANC",
        std::vector<pacspull::testing::DicomNode>{{"PACSPULL_RCV", "127.0.0.1", receiver_port}});
    files = make_instances(dir / "in", {"--studies", "2", "--series", "2", "--instances", "3"});
    orthanc->upload(dir / "in");  // storescu, throws unless every file is acknowledged
  }
  ~OrthancWorld() {
    orthanc.reset();
    receiver.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  Peer peer() const { return Peer{AeTitle("ORTHANC"), "127.0.0.1", orthanc->dicom_port()}; }
  std::set<std::string> studies() const {
    std::set<std::string> s;
    for (const auto& f : files) s.insert(f.study);
    return s;
  }
};

OrthancWorld& world() {
  static OrthancWorld w;
  return w;
}

}  // namespace

TEST_CASE("find at study level returns counts and modalities", "[scu][orthanc]") {
  auto& w = world();
  FindResult r = find(scu_options(), w.peer(), QueryLevel::Study,
                      {{"StudyInstanceUID", ""}, {"ModalitiesInStudy", ""}, {"NumberOfStudyRelatedInstances", ""},
                       {"PatientID", ""}});
  REQUIRE_FALSE(r.error.has_value());
  CHECK_FALSE(r.truncated);
  REQUIRE(r.matches.size() == 2);
  std::set<std::string> found;
  for (const auto& m : r.matches) {
    found.insert(m.trimmed("StudyInstanceUID"));
    CHECK(m.integer("NumberOfStudyRelatedInstances") == 6);
    const auto modalities = m.values("ModalitiesInStudy");
    CHECK(std::find(modalities.begin(), modalities.end(), "CT") != modalities.end());
  }
  CHECK(found == w.studies());
}

TEST_CASE("find at series level within a study", "[scu][orthanc]") {
  auto& w = world();
  const std::string study = w.files.front().study;
  FindResult r = find(scu_options(), w.peer(), QueryLevel::Series,
                      {{"StudyInstanceUID", study}, {"Modality", ""}, {"NumberOfSeriesRelatedInstances", ""},
                       {"SeriesNumber", ""}});
  REQUIRE_FALSE(r.error.has_value());
  REQUIRE(r.matches.size() == 2);
  for (const auto& m : r.matches) {
    CHECK(m.trimmed("Modality") == "CT");
    CHECK(m.integer("NumberOfSeriesRelatedInstances") == 3);
    CHECK(m.trimmed("StudyInstanceUID") == study);
    CHECK_FALSE(m.trimmed("SeriesInstanceUID").empty());
  }
  FindResult no_study = find(scu_options(), w.peer(), QueryLevel::Series, {{"Modality", ""}});
  REQUIRE(no_study.error.has_value());
  CHECK(no_study.error->cls == ErrorClass::Permanent);
  FindResult bad_key = find(scu_options(), w.peer(), QueryLevel::Study, {{"NoSuchKeyword", ""}});
  REQUIRE(bad_key.error.has_value());
  CHECK(bad_key.error->cls == ErrorClass::Permanent);
}

TEST_CASE("find with max_results caps and flags truncation", "[scu][orthanc]") {
  auto& w = world();
  auto options = scu_options();
  options.max_results = 1;
  FindResult r = find(options, w.peer(), QueryLevel::Study, {{"StudyInstanceUID", ""}});
  CHECK_FALSE(r.error.has_value());
  CHECK(r.truncated);
  CHECK(r.matches.size() == 1);
  // The association ended cleanly: the PACS still answers afterwards.
  FindResult again = find(scu_options(), w.peer(), QueryLevel::Study, {{"StudyInstanceUID", ""}});
  CHECK(again.matches.size() == 2);
}

TEST_CASE("move brings a study and a series to our receiver", "[scu][orthanc]") {
  auto& w = world();
  const std::string study = w.files.front().study;
  const size_t before = w.sink.calls();
  MoveResult r = move(scu_options(), w.peer(), AeTitle("PACSPULL_RCV"), StudyUid(study));
  INFO(pacspull::testing::log_tail(w.orthanc->log_path()));
  REQUIRE_FALSE(r.error.has_value());
  CHECK(r.ok);
  CHECK(r.status == 0);
  CHECK(r.completed == 6);
  CHECK(r.failed == 0);
  CHECK(r.elapsed.count() > 0);
  // Arrival is checked on our side, not taken from the C-MOVE status.
  CHECK(w.sink.calls() == before + 6);
  for (const auto& f : w.files) {
    if (f.study != study) continue;
    CHECK(w.sink.calls_for(f.sop) >= 1);
    CHECK(fs::exists(storage_path(w.dir / "received", StudyUid(f.study), SeriesUid(f.series),
                                  pacspull::core::SopInstanceUid(f.sop))));
  }
  const TestInstance& other = w.files.back();
  MoveResult s = move(scu_options(), w.peer(), AeTitle("PACSPULL_RCV"), StudyUid(other.study), SeriesUid(other.series));
  REQUIRE_FALSE(s.error.has_value());
  CHECK(s.completed == 3);
  CHECK(w.sink.calls_for(other.sop) == 1);
}

TEST_CASE("move to an unknown destination fails", "[scu][orthanc]") {
  auto& w = world();
  MoveResult r = move(scu_options(), w.peer(), AeTitle("NOBODY"), StudyUid(w.files.front().study));
  CHECK_FALSE(r.ok);
  REQUIRE(r.error.has_value());
  CHECK(r.status != 0);
  INFO(r.error->message);
}

TEST_CASE("find and move against a port where nothing listens fail fast and retryable", "[scu]") {
  const Peer nobody{AeTitle("NOBODY"), "127.0.0.1", pacspull::testing::free_tcp_port()};
  const auto t0 = std::chrono::steady_clock::now();
  FindResult f = find(scu_options(), nobody, QueryLevel::Study, {{"StudyInstanceUID", ""}});
  REQUIRE(f.error.has_value());
  CHECK(f.error->cls == ErrorClass::Retryable);
  MoveResult m = move(scu_options(), nobody, AeTitle("X"), StudyUid("1.2.3"));
  CHECK_FALSE(m.ok);
  REQUIRE(m.error.has_value());
  CHECK(m.error->cls == ErrorClass::Retryable);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
}

TEST_CASE("find and move against a PACS that never answers time out, retryable", "[scu]") {
  SilentListener silent;
  const Peer peer{AeTitle("SILENT"), "127.0.0.1", silent.port()};
  auto options = scu_options();
  options.acse_timeout = std::chrono::seconds(2);
  for (int i = 0; i < 2; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<Error> error;
    if (i == 0) {
      error = find(options, peer, QueryLevel::Study, {{"StudyInstanceUID", ""}}).error;
    } else {
      error = move(options, peer, AeTitle("X"), StudyUid("1.2.3")).error;
    }
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(error.has_value());
    INFO(error->message);
    CHECK(error->cls == ErrorClass::Retryable);
    CHECK(took >= std::chrono::milliseconds(1500));
    CHECK(took < std::chrono::seconds(6));
  }
  CHECK(silent.accepted() == 2);
}

TEST_CASE("store sends files to DCMTK storescp and reports unreadable ones", "[scu]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-storescu");
  const auto files = make_instances(dir / "in", {"--instances", "4"});
  pacspull::testing::StoreScpNode storescp(dir / "out", "STORESCP");
  const uint16_t port = storescp.port();
  {
    std::ofstream(dir / "garbage.dcm") << "not dicom at all";
  }
  std::vector<fs::path> paths{dir / "garbage.dcm"};
  for (const auto& f : files) paths.push_back(f.path);
  paths.push_back(pydicom_file("MR_small.dcm"));  // another SOP class in the same association

  StoreResult r = store(scu_options(), Peer{AeTitle("STORESCP"), "127.0.0.1", port}, paths);
  INFO(pacspull::testing::log_tail(dir / "out" / "storescp.log"));
  CHECK_FALSE(r.error.has_value());
  CHECK(r.sent == files.size() + 1);
  REQUIRE(r.failures.size() == 1);
  CHECK(r.failures[0].first == dir / "garbage.dcm");
  // storescp writes a file while receiving; our call returned after every C-STORE-RSP.
  const auto received = storescp.sop_instance_uids();
  for (const auto& f : files) CHECK(std::find(received.begin(), received.end(), f.sop) != received.end());
  CHECK(received.size() == files.size() + 1);
  CHECK(std::find(received.begin(), received.end(),
                  read_attributes(pydicom_file("MR_small.dcm")).attributes->trimmed("SOPInstanceUID")) != received.end());
  StoreResult wrong = store(scu_options(), Peer{AeTitle("STORESCP"), "127.0.0.1", pacspull::testing::free_tcp_port()},
                            {files[0].path});
  REQUIRE(wrong.error.has_value());
  CHECK(wrong.error->cls == ErrorClass::Retryable);
  CHECK(wrong.sent == 0);
  CHECK(wrong.failures.size() == 1);
  storescp.stop();
  fs::remove_all(dir);
}

TEST_CASE("store keeps compressed transfer syntaxes as stored (to our StoreScp)", "[scu]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-store-compressed");
  RecordingSink sink;
  StoreScp::Options o;
  o.ae_title = AeTitle("PACSPULL_RCV");
  o.bind_host = "127.0.0.1";
  o.storage_root = dir / "received";
  o.callers.accept_any = true;
  StoreScp scp(o, sink.as_sink());
  const uint16_t port = scp.start();
  const std::vector<fs::path> paths{pydicom_file("MR_small_jpeg_ls_lossless.dcm"), pydicom_file("MR_small_RLE.dcm"),
                                    pydicom_file("JPEG2000.dcm")};
  StoreResult r = store(scu_options(), Peer{AeTitle("PACSPULL_RCV"), "127.0.0.1", port}, paths);
  CHECK_FALSE(r.error.has_value());
  CHECK(r.failures.empty());
  CHECK(r.sent == paths.size());
  REQUIRE(sink.calls() == paths.size());
  // pydicom's MR_small_jpeg_ls_lossless and MR_small_RLE are one SOP instance in two encodings:
  // the second to arrive is other bytes under the same UID, so it is kept aside as a conflict.
  const auto all = sink.all();
  for (size_t k = 0; k < all.size(); ++k) {
    const auto& stored = all[k];
    const fs::path& original = paths[k];  // one association, sent in order
    INFO(original.string());
    CHECK(stored.attributes == *read_attributes(original).attributes);
    CHECK(stored.arrival == (k == 1 ? StoreScp::Arrival::Conflict : StoreScp::Arrival::New));
    const fs::path& received = stored.arrival == StoreScp::Arrival::Conflict ? stored.conflict_path : stored.path;
    // The encapsulated pixel data (end of file) arrives byte for byte, not transcoded.
    const std::string a = pacspull::testing::read_file(original), b = pacspull::testing::read_file(received);
    const size_t tail = std::min<size_t>(4096, b.size() / 2);
    CHECK(a.find(b.substr(b.size() - tail)) != std::string::npos);
  }
  scp.stop();
  fs::remove_all(dir);
}
