// The mover's DICOM side against real PACS: C-GET (our own association carries the
// C-STORE sub-operations, written durably as the receiver writes them) from Orthanc and
// from DCMTK's dcmqrscp, and the outcome classes a real PACS produces (A801 from dcmqrscp,
// unreachable, rejected).
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>

#include "dcmqrscp_peer.hpp"
#include "orthanc.hpp"
#include "pacspull/dicom/get.hpp"
#include "pacspull/dicom/read.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/dicom/storage.hpp"
#include "peers.hpp"
#include "support.hpp"

using namespace pacspull::dicom;
using namespace pacspull::dicom::testing;
using pacspull::core::AeTitle;
using pacspull::core::SeriesUid;
using pacspull::core::SopInstanceUid;
using pacspull::core::StudyUid;
using pacspull::pipeline::OutcomeClass;
using pacspull::pipeline::OutcomeKind;

namespace {

ScuOptions scu_options() {
  ScuOptions o;
  o.calling_ae = AeTitle("PACSPULL");
  o.connect_timeout = std::chrono::seconds(3);
  o.acse_timeout = std::chrono::seconds(5);
  o.dimse_timeout = std::chrono::seconds(20);
  return o;
}

// Orthanc and dcmqrscp holding the same 2 studies (2 series x 3 CT instances each).
struct World {
  fs::path dir = pacspull::testing::make_temp_dir("pacspull-retrieve");
  std::vector<TestInstance> files;
  std::unique_ptr<pacspull::testing::OrthancPacs> orthanc;
  std::unique_ptr<pacspull::testing::DcmQrScpPeer> qr;
  World() {
    files = make_instances(dir / "in", {"--studies", "2", "--series", "2", "--instances", "3"});
    orthanc = std::make_unique<pacspull::testing::OrthancPacs>(dir / "orthanc", "ORTHANC",
                                                               std::vector<pacspull::testing::DicomNode>{});
    orthanc->upload(dir / "in");
    qr = std::make_unique<pacspull::testing::DcmQrScpPeer>(dir / "qr", "QRSCP",
                                                           std::vector<pacspull::testing::DicomNode>{});
    qr->upload(dir / "in");
  }
  ~World() {
    orthanc.reset();
    qr.reset();
    std::error_code ec;
    if (pacspull::testing::env_or("PACSPULL_KEEP_TEST_DIRS", "").empty()) fs::remove_all(dir, ec);
  }
  Peer orthanc_peer() const { return Peer{AeTitle("ORTHANC"), "127.0.0.1", orthanc->dicom_port()}; }
  Peer qr_peer() const { return Peer{AeTitle("QRSCP"), "127.0.0.1", qr->port()}; }
  std::vector<TestInstance> of_study(const std::string& study) const {
    std::vector<TestInstance> out;
    for (const auto& f : files)
      if (f.study == study) out.push_back(f);
    return out;
  }
};

World& world() {
  static World w;
  return w;
}

void check_get(const Peer& peer, const std::string& name) {
  auto& w = world();
  const fs::path root = w.dir / ("store-" + name);
  const std::string study = w.files.front().study;
  const auto expected = w.of_study(study);
  RecordingSink sink;
  GetOptions g{root, "testhost"};

  GetResult r = get(scu_options(), g, peer, StudyUid(study), std::nullopt, std::nullopt, sink.as_sink());
  INFO(name << ": " << (r.error ? r.error->message : std::string("no error")));
  REQUIRE(r.ok);
  CHECK(r.outcome.ok());
  CHECK(r.outcome.cls == OutcomeClass::Success);
  CHECK(r.completed == static_cast<int>(expected.size()));
  CHECK(r.stored == static_cast<int>(expected.size()));
  REQUIRE(sink.calls() == expected.size());
  for (const auto& f : expected) {
    CHECK(sink.calls_for(f.sop) == 1);
    const fs::path path = storage_path(root, StudyUid(f.study), SeriesUid(f.series), SopInstanceUid(f.sop));
    REQUIRE(fs::exists(path));
    ReadResult read = read_attributes(path);
    REQUIRE(read.attributes);
    CHECK(read.attributes->trimmed("SOPInstanceUID") == f.sop);
  }
  for (const auto& s : sink.all()) CHECK(s.arrival == StoreScp::Arrival::New);
  // Nothing left in the incoming directory: every temp file was renamed into place.
  CHECK(fs::is_empty(root / ".incoming"));

  // Again: the same bytes arrive again, nothing is overwritten, the sink hears "Again".
  RecordingSink again;
  GetResult r2 = get(scu_options(), g, peer, StudyUid(study), std::nullopt, std::nullopt, again.as_sink());
  REQUIRE(r2.ok);
  REQUIRE(again.calls() == expected.size());
  for (const auto& s : again.all()) CHECK(s.arrival == StoreScp::Arrival::Again);

  // One series, then one instance.
  const TestInstance& one = expected.front();
  RecordingSink series_sink;
  GetResult rs = get(scu_options(), g, peer, StudyUid(study), SeriesUid(one.series), std::nullopt, series_sink.as_sink());
  REQUIRE(rs.ok);
  size_t in_series = 0;
  for (const auto& f : expected) in_series += f.series == one.series;
  CHECK(series_sink.calls() == in_series);
  RecordingSink instance_sink;
  GetResult ri = get(scu_options(), g, peer, StudyUid(study), SeriesUid(one.series), SopInstanceUid(one.sop),
                     instance_sink.as_sink());
  REQUIRE(ri.ok);
  REQUIRE(instance_sink.calls() == 1);
  CHECK(instance_sink.calls_for(one.sop) == 1);

  // A sink that cannot record (the ledger is down) gets 0xA700 answered to the PACS: the
  // retrieval is not ok, and retryable.
  RecordingSink refusing;
  refusing.retry_later = true;
  GetResult rf = get(scu_options(), g, peer, StudyUid(study), SeriesUid(one.series), std::nullopt, refusing.as_sink());
  CHECK_FALSE(rf.ok);
  CHECK(rf.stored == 0);
  CHECK(rf.outcome.kind == OutcomeKind::Retryable);
}

// get_header: one instance's header by C-GET, streamed into a scratch file under TMPDIR that
// is removed at once; nothing else is written anywhere.
void check_get_header(const Peer& peer, const std::string& name) {
  auto& w = world();
  const fs::path scratch = w.dir / ("scratch-" + name);
  fs::create_directories(scratch);
  const std::string old_tmpdir = pacspull::testing::env_or("TMPDIR", "");
  ::setenv("TMPDIR", scratch.c_str(), 1);
  const TestInstance& one = w.files.front();
  HeaderResult h = get_header(scu_options(), peer, StudyUid(one.study), SeriesUid(one.series), SopInstanceUid(one.sop));
  INFO(name << ": " << (h.get.error ? h.get.error->message : std::string("no error")));
  CHECK(h.get.ok);
  REQUIRE(h.header);
  CHECK(h.header->trimmed("SOPInstanceUID") == one.sop);
  CHECK(h.header->trimmed("SeriesInstanceUID") == one.series);
  CHECK_FALSE(h.header->get("PixelData"));  // the header only
  // The whole instance came over the wire (the file meta headers of the two files differ a little).
  CHECK(h.bytes + 1024 >= fs::file_size(one.path));
  CHECK(h.bytes <= fs::file_size(one.path) + 1024);
  CHECK(fs::is_empty(scratch));                 // the scratch file is gone

  // An instance the PACS does not have: no header, not ok, nothing left behind.
  HeaderResult none =
      get_header(scu_options(), peer, StudyUid(one.study), SeriesUid(one.series), SopInstanceUid("1.2.3.4.5.6.7.8.9"));
  CHECK_FALSE(none.header);
  CHECK_FALSE(none.get.ok);
  CHECK(fs::is_empty(scratch));
  if (old_tmpdir.empty()) ::unsetenv("TMPDIR");
  else ::setenv("TMPDIR", old_tmpdir.c_str(), 1);
}

}  // namespace

TEST_CASE("C-GET of one header from Orthanc and dcmqrscp: header only, scratch file removed",
          "[retrieve][cget][header]") {
  SECTION("Orthanc") { check_get_header(world().orthanc_peer(), "orthanc"); }
  SECTION("dcmqrscp") { check_get_header(world().qr_peer(), "dcmqrscp"); }
}

TEST_CASE("C-GET from Orthanc stores study, series and instance durably", "[retrieve][cget][orthanc]") {
  check_get(world().orthanc_peer(), "orthanc");
}

TEST_CASE("C-GET from dcmqrscp stores study, series and instance durably", "[retrieve][cget][dcmqrscp]") {
  check_get(world().qr_peer(), "dcmqrscp");
}

TEST_CASE("Retrieval outcomes from real peers: A801 permanent, unreachable and busy retryable, rejected permanent",
          "[retrieve][outcome]") {
  auto& w = world();
  const std::string study = w.files.front().study;
  RecordingSink scratch;
  // dcmqrscp does not know the destination: 0xA801, permanent, a failover candidate.
  MoveResult unknown = move(scu_options(), w.qr_peer(), AeTitle("NOTREGISTERED"), StudyUid(study));
  INFO(unknown.outcome.message);
  CHECK_FALSE(unknown.ok);
  CHECK(unknown.outcome.cls == OutcomeClass::DestinationUnknown);
  CHECK(unknown.outcome.kind == OutcomeKind::Permanent);
  CHECK(unknown.outcome.status == 0xA801);
  CHECK(pacspull::pipeline::fails_over(unknown.outcome));

  // Nobody listens: unreachable, retryable.
  Peer closed{AeTitle("ORTHANC"), "127.0.0.1", pacspull::testing::free_tcp_port()};
  MoveResult down = move(scu_options(), closed, AeTitle("X"), StudyUid(study));
  CHECK(down.outcome.cls == OutcomeClass::Unreachable);
  CHECK(down.outcome.kind == OutcomeKind::Retryable);
  GetResult get_down = get(scu_options(), GetOptions{w.dir / "store-down", ""}, closed, StudyUid(study),
                           std::nullopt, std::nullopt, scratch.as_sink());
  CHECK(get_down.outcome.cls == OutcomeClass::Unreachable);

  // dcmqrscp rejects a called AE title it does not serve: rejected, permanent.
  Peer wrong_ae{AeTitle("NOTQRSCP"), "127.0.0.1", w.qr->port()};
  GetResult rejected = get(scu_options(), GetOptions{w.dir / "store-rej", ""}, wrong_ae, StudyUid(study),
                           std::nullopt, std::nullopt, scratch.as_sink());
  INFO(rejected.outcome.message);
  CHECK(rejected.outcome.cls == OutcomeClass::Rejected);
  CHECK(rejected.outcome.kind == OutcomeKind::Permanent);

  // A study the PACS does not hold: dcmqrscp says success with nothing sent (its own class,
  // a failover candidate); Orthanc says 0xC000 (unable to process, retryable).
  GetResult none = get(scu_options(), GetOptions{w.dir / "store-none", ""}, w.qr_peer(), StudyUid("1.2.3.999"),
                       std::nullopt, std::nullopt, scratch.as_sink());
  INFO(none.outcome.message);
  CHECK(none.outcome.cls == OutcomeClass::NothingSent);
  CHECK(none.outcome.kind == OutcomeKind::Retryable);
  GetResult none_orthanc = get(scu_options(), GetOptions{w.dir / "store-none", ""}, w.orthanc_peer(),
                               StudyUid("1.2.3.999"), std::nullopt, std::nullopt, scratch.as_sink());
  CHECK(none_orthanc.outcome.cls == OutcomeClass::UnableToProcess);
  CHECK(none_orthanc.outcome.status == 0xC000);
}
