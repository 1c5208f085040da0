// StoreScp against DCMTK's storescu (and echoscu): layout, durability, sink semantics,
// AE title checks, idempotent duplicates, RetryLater, capacity.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <fstream>
#include <set>

#include "pacspull/dicom/read.hpp"
#include "pacspull/dicom/scu.hpp"
#include "pacspull/dicom/storage.hpp"
#include "pacspull/dicom/store_scp.hpp"
#include "support.hpp"

using namespace pacspull::dicom;
using namespace pacspull::dicom::testing;
using pacspull::core::AeTitle;
using namespace std::string_literals;

namespace {

StoreScp::Options scp_options(const fs::path& root) {
  StoreScp::Options o;
  o.ae_title = AeTitle("PACSPULL_RCV");
  o.bind_host = "127.0.0.1";
  o.storage_root = root;
  o.callers.accept_any = true;  // these tests send as several AE titles; access has its own test
  o.acse_timeout = std::chrono::seconds(10);
  o.dimse_timeout = std::chrono::seconds(10);
  return o;
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

fs::path expected_path(const fs::path& root, const TestInstance& t) {
  return storage_path(root, pacspull::core::StudyUid(t.study), pacspull::core::SeriesUid(t.series),
                      pacspull::core::SopInstanceUid(t.sop));
}

}  // namespace

TEST_CASE("storage_path sanitizes UIDs", "[scp]") {
  using pacspull::core::SeriesUid;
  using pacspull::core::SopInstanceUid;
  using pacspull::core::StudyUid;
  const fs::path p = storage_path("/r", StudyUid("1.2.3"), SeriesUid("1.2.3.4\0"s), SopInstanceUid("1.2.3.4.5 "));
  CHECK(p == fs::path("/r/1.2.3/1.2.3.4/1.2.3.4.5.dcm"));
  const fs::path spaced = storage_path("/r", StudyUid("1.2. 3"), SeriesUid("../x"), SopInstanceUid("9"));
  CHECK(spaced.parent_path().parent_path().filename().string().rfind("1.2._3-", 0) != std::string::npos);
  CHECK(spaced.parent_path().filename().string().find('/') == std::string::npos);
  CHECK(spaced.lexically_normal().string().rfind("/r/", 0) == 0);
  CHECK(storage_path("/r", StudyUid("1.2._3"), SeriesUid("1"), SopInstanceUid("2")) !=
        storage_path("/r", StudyUid("1.2. 3"), SeriesUid("1"), SopInstanceUid("2")));
  const fs::path empty = storage_path("/r", StudyUid(""), SeriesUid("5.6"), SopInstanceUid("7"));
  CHECK(empty.parent_path().parent_path().filename().string().rfind("unknown-", 0) == 0);
  CHECK(empty == storage_path("/r", StudyUid("  "), SeriesUid("5.6"), SopInstanceUid("7")));
  CHECK(storage_path("/r", StudyUid(".."), SeriesUid("1"), SopInstanceUid("2")).lexically_normal().string().rfind("/r/", 0) == 0);
}

TEST_CASE("StoreScp stores what storescu sends, durably, and hands each instance on once", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto files = make_instances(dir / "in", {"--studies", "2", "--series", "2", "--instances", "3"});
  REQUIRE(files.size() == 12);
  RecordingSink sink;
  StoreScp scp(scp_options(dir / "store"), sink.as_sink());
  const uint16_t port = scp.start();
  REQUIRE(port != 0);

  std::vector<fs::path> paths;
  for (const auto& f : files) paths.push_back(f.path);
  REQUIRE(run_storescu("MODALITY", "PACSPULL_RCV", port, paths, dir / "storescu.log") == 0);

  CHECK(sink.calls() == files.size());
  for (const auto& f : files) {
    INFO(f.sop);
    CHECK(sink.calls_for(f.sop) == 1);
    const fs::path stored = expected_path(dir / "store", f);
    REQUIRE(fs::exists(stored));
    const ReadResult original = read_attributes(f.path);
    const ReadResult received = read_attributes(stored);
    REQUIRE(original.attributes);
    REQUIRE(received.attributes);
    CHECK(*received.attributes == *original.attributes);
    // The pixel data (the received file's last 32 KiB) arrives byte for byte. storescu
    // drops the original's DataSetTrailingPadding, so search rather than align the tails.
    const std::string a = pacspull::testing::read_file(f.path), b = pacspull::testing::read_file(stored);
    REQUIRE(b.size() > 32768);
    CHECK(a.find(b.substr(b.size() - 32768)) != std::string::npos);
  }
  for (const auto& s : sink.all()) {
    CHECK(s.calling_ae.str() == "MODALITY");
    CHECK(s.peer_host.find("127.0.0.1") != std::string::npos);
    CHECK(s.bytes == fs::file_size(s.path));
  }
  CHECK(fs::is_empty(dir / "store" / ".incoming"));
  CHECK(count_files(dir / "store") == files.size());
  scp.stop();
  const auto c = scp.counters();
  CHECK(c.associations == 1);
  CHECK(c.stored == files.size());
  CHECK(c.failed == 0);
  CHECK(c.rejected == 0);
  fs::remove_all(dir);
}

TEST_CASE("StoreScp answers C-ECHO", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  RecordingSink sink;
  StoreScp scp(scp_options(dir / "store"), sink.as_sink());
  const uint16_t port = scp.start();
  CHECK(pacspull::testing::run_command({"echoscu", "-aet", "ANY", "-aec", "PACSPULL_RCV", "-to", "5", "-ta", "10",
                                        "-td", "10", "127.0.0.1", std::to_string(port)},
                                       std::chrono::seconds(30), dir / "echoscu.log", peer_env()) == 0);
  CHECK(pacspull::testing::run_command({"echoscu", "-aet", "ANY", "-aec", "WRONG_AE", "-to", "5", "-ta", "10", "-td",
                                        "10", "127.0.0.1", std::to_string(port)},
                                       std::chrono::seconds(30), dir / "echoscu.log", peer_env()) != 0);
  scp.stop();
  CHECK(scp.counters().rejected == 1);
  fs::remove_all(dir);
}

TEST_CASE("StoreScp rejects callers not allowed and wrong called AE titles", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto files = make_instances(dir / "in", {"--instances", "2"});
  RecordingSink sink;
  auto options = scp_options(dir / "store");
  options.callers.accept_any = false;
  options.callers.callers = {{AeTitle("ORTHANC"), {}, "pacs orthanc"},
                             {AeTitle("PACS1"), {*pacspull::pipeline::parse_ip_network("127.0.0.0/8")}, "pacs one"},
                             {AeTitle("FARAWAY"), {*pacspull::pipeline::parse_ip_network("10.0.0.0/8"),
                                                   *pacspull::pipeline::parse_ip_network("2001:db8::/32")}, "pacs far"}};
  StoreScp scp(options, sink.as_sink());
  const uint16_t port = scp.start();

  CHECK(run_storescu("INTRUDER", "PACSPULL_RCV", port, {files[0].path}, dir / "storescu.log") != 0);
  CHECK(run_storescu("PACS1", "SOMEONE_ELSE", port, {files[0].path}, dir / "storescu.log") != 0);
  CHECK(run_storescu("FARAWAY", "PACSPULL_RCV", port, {files[0].path}, dir / "storescu.log") != 0);  // from 127.0.0.1
  CHECK(sink.calls() == 0);
  CHECK_FALSE(fs::exists(expected_path(dir / "store", files[0])));
  CHECK(run_storescu("PACS1", "PACSPULL_RCV", port, {files[1].path}, dir / "storescu.log") == 0);
  CHECK(sink.calls_for(files[1].sop) == 1);
  scp.stop();
  const std::string log = pacspull::testing::read_file(dir / "storescu.log");
  CHECK(log.find("Calling AE Title Not Recognized") != std::string::npos);
  CHECK(log.find("Called AE Title Not Recognized") != std::string::npos);
  CHECK(scp.counters().rejected == 3);
  CHECK(scp.counters().rejected_calling_ae == 1);
  CHECK(scp.counters().rejected_address == 1);
  CHECK(scp.counters().rejected_called_ae == 1);
  CHECK(scp.counters().associations == 1);
  fs::remove_all(dir);
}

TEST_CASE("StoreScp duplicate sends are idempotent and re-notify the sink", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto files = make_instances(dir / "in", {"--instances", "2"});
  RecordingSink sink;
  StoreScp scp(scp_options(dir / "store"), sink.as_sink());
  const uint16_t port = scp.start();
  std::vector<fs::path> paths{files[0].path, files[1].path};
  REQUIRE(run_storescu("MODALITY", "PACSPULL_RCV", port, paths, dir / "storescu.log") == 0);
  const std::string first = pacspull::testing::read_file(expected_path(dir / "store", files[0]));
  REQUIRE(run_storescu("MODALITY", "PACSPULL_RCV", port, paths, dir / "storescu.log") == 0);
  CHECK(sink.calls_for(files[0].sop) == 2);
  CHECK(sink.calls_for(files[1].sop) == 2);
  CHECK(count_files(dir / "store") == 2);
  CHECK(pacspull::testing::read_file(expected_path(dir / "store", files[0])) == first);
  CHECK(fs::is_empty(dir / "store" / ".incoming"));
  fs::remove_all(dir);
}

TEST_CASE("StoreScp never overwrites an acknowledged instance: other content is kept aside as a conflict", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto files = make_instances(dir / "in", {"--instances", "1"});
  // The same SOP Instance UID with other content, made by DCMTK's dcmodify.
  const fs::path second = dir / "second.dcm";
  fs::copy_file(files[0].path, second);
  REQUIRE(pacspull::testing::run_command({"dcmodify", "-nb", "-i", "(0020,4000)=re-sent with other content",
                                          second.string()},
                                         std::chrono::seconds(30), dir / "dcmodify.log", peer_env()) == 0);
  RecordingSink sink;
  StoreScp scp(scp_options(dir / "store"), sink.as_sink());
  const uint16_t port = scp.start();
  const fs::path log = dir / "storescu.log";
  REQUIRE(run_storescu("MODALITY", "PACSPULL_RCV", port, {files[0].path}, log) == 0);
  const fs::path kept = expected_path(dir / "store", files[0]);
  const std::string first = pacspull::testing::read_file(kept);
  // Acknowledged (the data is safe), but the first copy is untouched.
  REQUIRE(run_storescu("MODALITY", "PACSPULL_RCV", port, {second}, log) == 0);
  CHECK(pacspull::testing::read_file(kept) == first);
  // The same bytes again: a no-op success.
  REQUIRE(run_storescu("OTHER_AE", "PACSPULL_RCV", port, {files[0].path}, log) == 0);
  CHECK(pacspull::testing::read_file(kept) == first);

  const auto calls = sink.all();
  REQUIRE(calls.size() == 3);
  CHECK(calls[0].arrival == StoreScp::Arrival::New);
  CHECK(calls[1].arrival == StoreScp::Arrival::Conflict);
  CHECK(calls[1].path == kept);
  REQUIRE(fs::exists(calls[1].conflict_path));
  CHECK(calls[1].conflict_path.string().find("/.conflicts/") != std::string::npos);
  CHECK(pacspull::testing::read_file(calls[1].conflict_path).find("re-sent with other content") != std::string::npos);
  CHECK(calls[2].arrival == StoreScp::Arrival::Again);
  CHECK(fs::is_empty(dir / "store" / ".incoming"));
  fs::remove_all(dir);
}

TEST_CASE("StoreScp answers out-of-resources when the sink says RetryLater", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto files = make_instances(dir / "in", {"--instances", "1"});
  RecordingSink sink;
  sink.retry_later = true;
  StoreScp scp(scp_options(dir / "store"), sink.as_sink());
  const uint16_t port = scp.start();
  const fs::path log = dir / "storescu.log";
  CHECK(run_storescu("MODALITY", "PACSPULL_RCV", port, {files[0].path}, log, {"-v"}) != 0);
  const std::string output = pacspull::testing::read_file(log);
  INFO(output);
  CHECK(output.find("Refused: OutOfResources") != std::string::npos);
  CHECK(sink.calls() == 1);
  CHECK(scp.counters().failed == 1);
  CHECK(scp.counters().stored == 0);
  // The sender retries later; now the sink accepts.
  sink.retry_later = false;
  CHECK(run_storescu("MODALITY", "PACSPULL_RCV", port, {files[0].path}, log) == 0);
  CHECK(sink.calls_for(files[0].sop) == 2);
  CHECK(scp.counters().stored == 1);
  fs::remove_all(dir);
}

TEST_CASE("StoreScp answers out-of-resources on a write error and keeps serving", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto blocked = make_instances(dir / "in", {"--prefix", "blocked"});
  const auto fine = make_instances(dir / "in", {"--prefix", "fine"});
  RecordingSink sink;
  StoreScp scp(scp_options(dir / "store"), sink.as_sink());
  const uint16_t port = scp.start();
  // A regular file where the study directory must go: mkdir fails like on a broken disk.
  const fs::path study_dir = expected_path(dir / "store", blocked[0]).parent_path().parent_path();
  std::ofstream(study_dir) << "in the way";
  const fs::path log = dir / "storescu.log";
  CHECK(run_storescu("MODALITY", "PACSPULL_RCV", port, {blocked[0].path}, log, {"-v"}) != 0);
  CHECK(pacspull::testing::read_file(log).find("Refused: OutOfResources") != std::string::npos);
  CHECK(sink.calls() == 0);
  CHECK(fs::is_empty(dir / "store" / ".incoming"));
  CHECK(run_storescu("MODALITY", "PACSPULL_RCV", port, {fine[0].path}, log) == 0);
  CHECK(sink.calls_for(fine[0].sop) == 1);
  CHECK(scp.counters().failed == 1);
  CHECK(scp.counters().stored == 1);
  fs::remove_all(dir);
}

TEST_CASE("StoreScp serves associations concurrently and rejects above max_associations", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto files = make_instances(dir / "in", {"--instances", "2"});
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> entered{0};
  auto options = scp_options(dir / "store");
  options.max_associations = 1;
  StoreScp scp(options, [&](const StoreScp::Stored&) {
    ++entered;
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return release; });  // holds the one association slot busy
    return StoreScp::SinkResult::Ok;
  });
  const uint16_t port = scp.start();
  auto first = pacspull::testing::ChildProcess::spawn(
      {"storescu", "-aet", "A", "-aec", "PACSPULL_RCV", "-to", "5", "-ta", "10", "-td", "30", "127.0.0.1",
       std::to_string(port), files[0].path.string()},
      peer_env(), dir / "first.log");
  REQUIRE(pacspull::testing::wait_for([&] { return entered.load() == 1; }, std::chrono::seconds(20)));
  CHECK(run_storescu("B", "PACSPULL_RCV", port, {files[1].path}, dir / "second.log") != 0);
  CHECK(scp.counters().rejected == 1);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  CHECK(first.wait(std::chrono::seconds(30)) == 0);
  CHECK(fs::exists(expected_path(dir / "store", files[0])));
  scp.stop();
  fs::remove_all(dir);
}

TEST_CASE("StoreScp serves two associations at the same time", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto files = make_instances(dir / "in", {"--instances", "2"});
  std::mutex m;
  std::set<std::string> inside;  // calling AEs currently inside the sink
  bool both_seen = false;
  StoreScp scp(scp_options(dir / "store"), [&](const StoreScp::Stored& s) {
    {
      std::lock_guard lock(m);
      inside.insert(s.calling_ae.str());
      if (inside.size() == 2) both_seen = true;
    }
    // A barrier: returns once the other association is also inside the sink, which
    // only happens if both are served concurrently (bounded, so a failure cannot hang).
    pacspull::testing::wait_for([&] {
      std::lock_guard lock(m);
      return both_seen;
    }, std::chrono::seconds(20));
    return StoreScp::SinkResult::Ok;
  });
  const uint16_t port = scp.start();
  std::vector<pacspull::testing::ChildProcess> senders;
  for (int i = 0; i < 2; ++i) {
    senders.push_back(pacspull::testing::ChildProcess::spawn(
        {"storescu", "-aet", "SENDER" + std::to_string(i), "-aec", "PACSPULL_RCV", "-to", "5", "-ta", "10", "-td", "30",
         "127.0.0.1", std::to_string(port), files[i].path.string()},
        peer_env(), dir / "senders.log"));
  }
  for (auto& s : senders) CHECK(s.wait(std::chrono::seconds(60)) == 0);
  std::lock_guard lock(m);
  CHECK(both_seen);
  CHECK(scp.counters().associations == 2);
  fs::remove_all(dir);
}

TEST_CASE("StoreScp files instances with empty or illegal UIDs from knock-off PACS", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  const auto no_study = make_instances(dir / "in", {"--drop", "StudyInstanceUID", "--prefix", "nostudy"});
  // "1.2.3 4" with a space, as one site's PACS sent it.
  const auto spaced = make_instances(dir / "in", {"--set", "StudyInstanceUID=312e322e3320342e35", "--prefix", "spaced"});
  RecordingSink sink;
  StoreScp scp(scp_options(dir / "store"), sink.as_sink());
  const uint16_t port = scp.start();
  // Sent with our own C-STORE SCU, which streams the files as stored: storescu would
  // "correct" the spaces away before sending.
  ScuOptions sender;
  sender.calling_ae = AeTitle("KNOCKOFF");
  const StoreResult sent = store(sender, Peer{AeTitle("PACSPULL_RCV"), "127.0.0.1", port}, {no_study[0].path, spaced[0].path});
  REQUIRE_FALSE(sent.error.has_value());
  REQUIRE(sent.sent == 2);
  REQUIRE(sink.calls() == 2);
  for (const auto& s : sink.all()) {
    const std::string study = std::string(s.attributes.get("StudyInstanceUID").value_or(""));
    CHECK(s.path == storage_path(dir / "store", pacspull::core::StudyUid(study),
                                 pacspull::core::SeriesUid(std::string(*s.attributes.get("SeriesInstanceUID"))),
                                 pacspull::core::SopInstanceUid(s.attributes.trimmed("SOPInstanceUID"))));
    CHECK(fs::exists(s.path));
    const std::string study_dir = s.path.parent_path().parent_path().filename().string();
    CHECK(study_dir.find(' ') == std::string::npos);
    if (study.empty()) CHECK(study_dir.rfind("unknown-", 0) == 0);
    else CHECK(study_dir.rfind("1.2.3_4.5-", 0) == 0);
  }
  fs::remove_all(dir);
}

TEST_CASE("StoreScp stop() is prompt with an idle association open", "[scp]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-scp");
  RecordingSink sink;
  auto options = scp_options(dir / "store");
  options.dimse_timeout = std::chrono::seconds(60);
  StoreScp scp(options, sink.as_sink());
  const uint16_t port = scp.start();
  // A silent TCP client: the acceptor waits for its A-ASSOCIATE-RQ at most acse_timeout.
  CHECK(pacspull::testing::tcp_port_open(port));
  const auto t0 = std::chrono::steady_clock::now();
  scp.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(12));
  CHECK_FALSE(pacspull::testing::tcp_port_open(port));
  fs::remove_all(dir);
}
