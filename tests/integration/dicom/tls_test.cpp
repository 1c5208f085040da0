// DICOM TLS (issue 11 part 2) against real DCMTK peers, with a CA and certificates made by
// the test (make_tls_certs.sh, openssl): our StoreScp behind TLS receives from storescu +tls
// and refuses untrusted and plain clients; our SCU speaks TLS to storescp +tls (C-ECHO,
// C-STORE: the AI-node path) and to Orthanc with DICOM TLS (C-FIND, C-MOVE into our TLS
// StoreScp: the PACS path).
#include <catch2/catch.hpp>

#include <fstream>

#include "pacspull/dicom/scu.hpp"
#include "pacspull/dicom/store_scp.hpp"
#include "orthanc.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "support.hpp"

using namespace pacspull::dicom;
using namespace pacspull::dicom::testing;
using pacspull::core::AeTitle;
namespace fs = std::filesystem;

namespace {

struct Pki {
  fs::path dir;
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

Pki make_pki(const fs::path& dir) {
  const fs::path log = dir / "pki.log";
  const int rc = pacspull::testing::run_command({"/bin/sh", helper_script("make_tls_certs.sh").string(), (dir / "pki").string()},
                                                std::chrono::seconds(60), log);
  INFO(pacspull::testing::read_file(log));
  REQUIRE(rc == 0);
  return Pki{dir / "pki"};
}

TlsOptions client_tls(const Pki& pki, const std::string& who = "client") {
  return TlsOptions{true, pki.file(who + ".pem"), pki.file(who + ".key"), {pki.file("ca.pem")}, true};
}

ScuOptions scu_options() {
  ScuOptions o;
  o.calling_ae = AeTitle("PACSPULL");
  o.connect_timeout = std::chrono::seconds(3);
  o.acse_timeout = std::chrono::seconds(5);
  o.dimse_timeout = std::chrono::seconds(20);
  return o;
}

StoreScp::Options tls_scp(const fs::path& root, const Pki& pki) {
  StoreScp::Options o;
  o.ae_title = AeTitle("PACSPULL_RCV");
  o.bind_host = "127.0.0.1";
  o.storage_root = root;
  o.callers.callers = {{AeTitle("SENDER"), {}, "test"}, {AeTitle("QRSCP"), {}, "test"}};
  o.acse_timeout = std::chrono::seconds(5);
  o.dimse_timeout = std::chrono::seconds(10);
  o.tls = TlsOptions{true, pki.file("server.pem"), pki.file("server.key"), {pki.file("ca.pem")}, true};
  return o;
}

std::vector<std::string> storescu_tls(const Pki& pki, const std::string& who) {
  return {"+tls", pki.file(who + ".key"), pki.file(who + ".pem"), "+cf", pki.file("ca.pem")};
}

size_t dcm_files(const fs::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it)
    n += it->is_regular_file() ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("StoreScp over TLS stores from storescu +tls with a trusted certificate, refuses the others", "[tls]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-tls-scp");
  const Pki pki = make_pki(dir);
  const auto files = make_instances(dir / "in", {"--instances", "3"});
  RecordingSink sink;
  StoreScp scp(tls_scp(dir / "store", pki), sink.as_sink());
  const uint16_t port = scp.start();

  CHECK(run_storescu("SENDER", "PACSPULL_RCV", port, {files[0].path}, dir / "trusted.log", storescu_tls(pki, "client")) == 0);
  INFO(pacspull::testing::read_file(dir / "trusted.log"));
  CHECK(sink.calls_for(files[0].sop) == 1);
  // A client certificate from another CA, and a client without TLS: refused in the handshake.
  CHECK(run_storescu("SENDER", "PACSPULL_RCV", port, {files[1].path}, dir / "rogue.log", storescu_tls(pki, "rogue")) != 0);
  CHECK(run_storescu("SENDER", "PACSPULL_RCV", port, {files[2].path}, dir / "plain.log") != 0);
  // TLS does not replace the caller check: a trusted certificate with an unknown AE title.
  CHECK(run_storescu("STRANGER", "PACSPULL_RCV", port, {files[1].path}, dir / "stranger.log", storescu_tls(pki, "client")) != 0);
  CHECK(pacspull::testing::read_file(dir / "stranger.log").find("Calling AE Title Not Recognized") != std::string::npos);
  CHECK(sink.calls() == 1);
  REQUIRE(pacspull::testing::wait_for([&] { return scp.counters().rejected_tls >= 2; }, std::chrono::seconds(10)));
  scp.stop();
  CHECK(scp.counters().rejected_tls == 2);
  CHECK(scp.counters().rejected_calling_ae == 1);
  CHECK(scp.counters().stored == 1);
  fs::remove_all(dir);
}

TEST_CASE("StoreScp refuses to start with TLS keys it cannot use", "[tls]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-tls-bad");
  const Pki pki = make_pki(dir);
  RecordingSink sink;
  auto o = tls_scp(dir / "store", pki);
  o.tls.private_key = pki.file("client.key");  // not the key of server.pem
  StoreScp mismatched(o, sink.as_sink());
  CHECK_THROWS_WITH(mismatched.start(), Catch::Contains("does not match the certificate"));
  o = tls_scp(dir / "store", pki);
  o.tls.certificate = (dir / "missing.pem").string();
  StoreScp missing(o, sink.as_sink());
  CHECK_THROWS_WITH(missing.start(), Catch::Contains("missing.pem"));
  fs::remove_all(dir);
}

TEST_CASE("The SCU speaks TLS to storescp +tls: C-ECHO and C-STORE (the AI node path)", "[tls][scu]") {
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-tls-scu");
  const Pki pki = make_pki(dir);
  const auto files = make_instances(dir / "in", {"--instances", "4"});
  fs::create_directories(dir / "out");
  const uint16_t port = pacspull::testing::free_tcp_port();
  // storescp requires a client certificate by default (-rc).
  auto node = pacspull::testing::ChildProcess::spawn(
      {"storescp", "-aet", "AINODE", "+tls", pki.file("server.key"), pki.file("server.pem"), "+cf", pki.file("ca.pem"),
       "-od", (dir / "out").string(), std::to_string(port)},
      peer_env(), dir / "storescp.log");
  REQUIRE(pacspull::testing::wait_for([&] { return pacspull::testing::tcp_port_open(port); }, std::chrono::seconds(20)));

  Peer peer{AeTitle("AINODE"), "127.0.0.1", port, client_tls(pki)};
  EchoResult e = echo(scu_options(), peer);
  INFO((e.error ? e.error->message : "") << "\n" << pacspull::testing::log_tail(dir / "storescp.log"));
  CHECK(e.ok);
  std::vector<fs::path> paths;
  for (const auto& f : files) paths.push_back(f.path);
  StoreResult s = store(scu_options(), peer, paths);
  CHECK_FALSE(s.error.has_value());
  CHECK(s.failures.empty());
  CHECK(s.sent == files.size());
  CHECK(dcm_files(dir / "out") == files.size());

  // Each refused: no TLS; TLS without a client certificate; a CA that does not sign the node's.
  Peer plain{AeTitle("AINODE"), "127.0.0.1", port, {}};
  CHECK_FALSE(echo(scu_options(), plain).ok);
  Peer anonymous = peer;
  anonymous.tls.certificate.clear();
  anonymous.tls.private_key.clear();
  CHECK_FALSE(echo(scu_options(), anonymous).ok);
  Peer wrong_ca = peer;
  wrong_ca.tls.ca_certificates = {pki.file("rogue-ca.pem")};
  CHECK_FALSE(echo(scu_options(), wrong_ca).ok);
  // Encryption only (verify_peer false) with our certificate still works.
  Peer unverified = peer;
  unverified.tls.ca_certificates.clear();
  unverified.tls.verify_peer = false;
  CHECK(echo(scu_options(), unverified).ok);
  // A key file that is not there: a permanent error naming it.
  Peer missing = peer;
  missing.tls.private_key = (dir / "nope.key").string();
  EchoResult m = echo(scu_options(), missing);
  REQUIRE(m.error.has_value());
  CHECK(m.error->cls == ErrorClass::Permanent);
  CHECK_THAT(m.error->message, Catch::Contains("nope.key"));
  CHECK(dcm_files(dir / "out") == files.size());
  node.stop(std::chrono::seconds(5));
  fs::remove_all(dir);
}

TEST_CASE("C-FIND and C-MOVE to Orthanc over DICOM TLS; its C-STOREs reach our TLS StoreScp", "[tls][scu]") {
  // dcmqrscp of DCMTK 3.6.7 (Debian 12) has no TLS; Orthanc (1.9+) does, both ways.
  const fs::path dir = pacspull::testing::make_temp_dir("pacspull-tls-qr");
  const Pki pki = make_pki(dir);
  const auto files = make_instances(dir / "in", {"--studies", "1", "--series", "2", "--instances", "3"});
  RecordingSink sink;
  auto options = tls_scp(dir / "store", pki);
  options.callers.callers = {{AeTitle("TLSPACS"), {}, "pacs tls"}};
  StoreScp scp(options, sink.as_sink());
  const uint16_t receiver_port = scp.start();

  pacspull::testing::OrthancOptions o;
  o.extra_config = {"\"DicomTlsEnabled\": true",
                    "\"DicomTlsCertificate\": \"" + pki.file("server.pem") + "\"",
                    "\"DicomTlsPrivateKey\": \"" + pki.file("server.key") + "\"",
                    "\"DicomTlsTrustedCertificates\": \"" + pki.file("ca.pem") + "\"",
                    "\"DicomTlsRemoteCertificateRequired\": true"};
  pacspull::testing::OrthancPacs pacs(dir / "orthanc", "TLSPACS", {}, o);
  // The move destination, over TLS (Orthanc presents server.pem as its client certificate).
  pacs.rest("PUT", "/modalities/rcv",
            "{\"AET\": \"PACSPULL_RCV\", \"Host\": \"127.0.0.1\", \"Port\": " + std::to_string(receiver_port) +
                ", \"UseDicomTls\": true}");
  for (const auto& f : files) pacs.rest("POST", "/instances", pacspull::testing::read_file(f.path));
  REQUIRE(pacs.instance_count() == files.size());

  const Peer peer{AeTitle("TLSPACS"), "127.0.0.1", pacs.dicom_port(), client_tls(pki)};
  EchoResult e = echo(scu_options(), peer);
  INFO((e.error ? e.error->message : "") << "\n" << pacspull::testing::log_tail(pacs.log_path()));
  CHECK(e.ok);
  FindResult f = find(scu_options(), peer, QueryLevel::Study, {{"StudyInstanceUID", ""}, {"ModalitiesInStudy", ""}});
  INFO((f.error ? f.error->message : ""));
  CHECK_FALSE(f.error.has_value());
  REQUIRE(f.matches.size() == 1);
  CHECK(f.matches[0].trimmed("StudyInstanceUID") == files[0].study);
  // Plain DICOM to the TLS port fails; so does a client certificate Orthanc does not trust.
  CHECK(find(scu_options(), Peer{AeTitle("TLSPACS"), "127.0.0.1", pacs.dicom_port(), {}}, QueryLevel::Study,
             {{"StudyInstanceUID", ""}})
            .error.has_value());
  CHECK_FALSE(echo(scu_options(), Peer{AeTitle("TLSPACS"), "127.0.0.1", pacs.dicom_port(), client_tls(pki, "rogue")}).ok);

  MoveResult mv = move(scu_options(), peer, AeTitle("PACSPULL_RCV"), pacspull::core::StudyUid(files[0].study));
  INFO((mv.error ? mv.error->message : "") << "\n" << pacspull::testing::log_tail(pacs.log_path()));
  CHECK(mv.ok);
  CHECK(mv.completed == static_cast<int>(files.size()));
  for (const auto& file : files) CHECK(sink.calls_for(file.sop) == 1);
  scp.stop();
  CHECK(scp.counters().stored == files.size());
  CHECK(scp.counters().rejected == 0);
  fs::remove_all(dir);
}
