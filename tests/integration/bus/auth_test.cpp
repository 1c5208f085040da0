// NATS credentials, per-service permissions and TLS (issue 11 part 4) against a real
// nats-server running the shipped deploy/nats/nats-server.conf: every service user can
// declare the pipeline and do its own work; none can publish a hand-off that is not its own
// or connect with a wrong password; TLS with a CA made by the test.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <string>

#include "pacspull/bus/bus.hpp"
#include "pacspull/runtime/pipeline_bus.hpp"
#include "process.hpp"

using namespace pacspull;
using namespace pacspull::testing;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kUsers{"finder", "mover", "receiver", "filter", "checker", "dispatcher", "operator",
                                      "ai_backend"};

std::string password_of(const std::string& user) { return "test-secret-" + user + "-7f3a"; }

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// nats-server with a configuration file (the shipped one unless `conf` is given).
class SecureNats {
 public:
  explicit SecureNats(fs::path conf = fs::path(env_or("PACSPULL_SOURCE_DIR", ".")) / "deploy/nats/nats-server.conf")
      : port_(free_tcp_port()), dir_(make_temp_dir("pacspull-nats-auth")) {
    std::map<std::string, std::string> env;
    for (const auto& u : kUsers) env["PACSPULL_NATS_PASSWORD_" + upper(u)] = password_of(u);
    process_ = ChildProcess::spawn({"nats-server", "-c", conf.string(), "-sd", (dir_ / "store").string(), "-p",
                                    std::to_string(port_), "-a", "127.0.0.1"},
                                   env, dir_ / "nats-server.log");
    if (!wait_for([&] { return tcp_port_open(port_) || !process_.running(); }, std::chrono::seconds(15)) ||
        !process_.running())
      throw std::runtime_error("nats-server did not start: " + read_file(dir_ / "nats-server.log"));
  }
  ~SecureNats() {
    process_.stop(std::chrono::seconds(5));
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string url(const std::string& scheme = "nats") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }
  std::string log() const { return read_file(dir_ / "nats-server.log"); }
  const fs::path& dir() const { return dir_; }

 private:
  uint16_t port_;
  fs::path dir_;
  ChildProcess process_;
};

bus::Options as(const SecureNats& nats, const std::string& user, const std::string& password) {
  bus::Options o;
  o.url = nats.url();
  o.name = "test-" + user;
  o.user = user;
  o.password = password;
  o.inbox_prefix = "_INBOX_" + user;  // what runtime::bus_options sets for a user
  o.connect_attempts = 1;
  o.publish_attempts = 1;
  o.publish_timeout = std::chrono::milliseconds(1500);
  return o;
}

std::unique_ptr<bus::Bus> connect_as(const SecureNats& nats, const std::string& user) {
  return bus::Bus::connect(as(nats, user, password_of(user)));
}

}  // namespace

TEST_CASE("Each service user declares the pipeline and publishes only its own hand-offs", "[integration][bus][auth]") {
  SecureNats nats;
  std::map<std::string, std::unique_ptr<bus::Bus>> b;
  for (const auto& u : {"finder", "mover", "receiver", "filter", "checker", "dispatcher"}) {
    INFO("user " << u);
    b[u] = connect_as(nats, u);
    REQUIRE_NOTHROW(runtime::declare_pipeline(*b[u]));  // the services' real JetStream calls
  }
  // Allowed: the finder and the checker ask for moves; the dispatcher announces.
  CHECK(b["finder"]->publish(runtime::subjects::kMoveRequest, "m1", "auth.m1").status == bus::PublishStatus::Ok);
  CHECK(b["checker"]->publish(runtime::subjects::kStudyReceived, "r1", "auth.r1").status == bus::PublishStatus::Ok);
  CHECK(b["filter"]->publish(runtime::subjects::kStudyFiltered, "f1", "auth.f1").status == bus::PublishStatus::Ok);
  CHECK(b["dispatcher"]->publish(runtime::subjects::kDispatchDone, "d1", "auth.d1").status == bus::PublishStatus::Ok);
  const uint64_t work_before = b["finder"]->stream_messages("PACSPULL_WORK");
  const uint64_t dispatch_before = b["finder"]->stream_messages("PACSPULL_DISPATCH");
  CHECK(dispatch_before == 1);

  // Refused: a receiver forging a DispatchDone or a move; a mover forging a filtered study;
  // the finder announcing a dispatch.
  CHECK_FALSE(b["receiver"]->publish(runtime::subjects::kDispatchDone, "forged", "auth.x1").ok());
  CHECK_FALSE(b["receiver"]->publish(runtime::subjects::kMoveRequest, "forged", "auth.x2").ok());
  CHECK_FALSE(b["mover"]->publish(runtime::subjects::kStudyFiltered, "forged", "auth.x3").ok());
  CHECK_FALSE(b["finder"]->publish(runtime::subjects::kDispatchDone, "forged", "auth.x4").ok());
  CHECK(b["finder"]->stream_messages("PACSPULL_WORK") == work_before);
  CHECK(b["finder"]->stream_messages("PACSPULL_DISPATCH") == dispatch_before);
  // Each refusal reached the client as an error (libnats' "Not Permitted"), counted.
  CHECK(b["receiver"]->counters().publish_failures == 2);

  // The mover consumes its requests and acks them (fetch and ack go through its own inbox).
  auto puller = b["mover"]->pull(runtime::mover_consumer());
  std::vector<bus::Message> got;
  wait_for([&] {
    for (auto& m : puller->fetch(1, std::chrono::milliseconds(500))) got.push_back(std::move(m));
    return !got.empty();
  }, std::chrono::seconds(10));
  REQUIRE(got.size() == 1);
  CHECK(got[0].data() == "m1");
  CHECK(got[0].ack());
}

TEST_CASE("Wrong, missing or borrowed credentials are refused", "[integration][bus][auth]") {
  SecureNats nats;
  SECTION("a wrong password fails at once, not retryable, saying so") {
    try {
      bus::Bus::connect(as(nats, "finder", "not-the-password"));
      FAIL("connected with a wrong password");
    } catch (const bus::BusError& e) {
      CHECK_FALSE(e.retryable());
      CHECK_THAT(e.what(), Catch::Contains("refused our credentials"));
      CHECK_THAT(e.what(), Catch::Contains("Authorization"));
    }
  }
  SECTION("no credentials") {
    bus::Options o;
    o.url = nats.url();
    o.connect_attempts = 1;
    CHECK_THROWS_AS(bus::Bus::connect(o), bus::BusError);
  }
  SECTION("the default reply inbox is another user's: JetStream calls fail") {
    bus::Options o = as(nats, "finder", password_of("finder"));
    o.inbox_prefix.clear();
    o.request_timeout = std::chrono::milliseconds(1500);
    auto bus = bus::Bus::connect(o);
    CHECK_THROWS_AS(runtime::declare_pipeline(*bus), bus::BusError);
  }
  SECTION("the AI backend reads the dispatch stream and publishes nothing") {
    auto dispatcher = connect_as(nats, "dispatcher");
    runtime::declare_pipeline(*dispatcher);
    auto ai = connect_as(nats, "ai_backend");
    CHECK_FALSE(ai->publish(runtime::subjects::kDispatchDone, "forged", "auth.ai1").ok());
    CHECK_FALSE(ai->publish(runtime::subjects::kMoveRequest, "forged", "auth.ai2").ok());
    bus::ConsumerSpec c;
    c.stream = "PACSPULL_DISPATCH";
    c.durable = "ai";
    CHECK_NOTHROW(ai->ensure_consumer(c));
    REQUIRE(dispatcher->publish(runtime::subjects::kDispatchDone, "done", "auth.done").ok());
    auto puller = ai->pull(c);
    std::vector<bus::Message> got;
    wait_for([&] {
      for (auto& m : puller->fetch(1, std::chrono::milliseconds(500))) got.push_back(std::move(m));
      return !got.empty();
    }, std::chrono::seconds(10));
    REQUIRE(got.size() == 1);
    CHECK(got[0].ack());
  }
}

TEST_CASE("TLS to NATS with a CA made by the test", "[integration][bus][tls]") {
  const fs::path dir = make_temp_dir("pacspull-nats-tls");
  auto sh = [&](const std::string& cmd) {
    return run_command({"/bin/sh", "-c", cmd}, std::chrono::seconds(60), dir / "openssl.log");
  };
  const std::string d = dir.string();
  REQUIRE(sh("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pacspull-test-ca "
             "-keyout ca.key -out ca.crt && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "
             "server.key -out server.csr && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req "
             "-in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.crt") == 0);
  std::ofstream(dir / "tls.conf") << "jetstream {}\ntls {\n  cert_file: \"" << d << "/server.crt\"\n  key_file: \"" << d
                                  << "/server.key\"\n}\nauthorization { user: finder, password: $PACSPULL_NATS_PASSWORD_FINDER }\n";
  SecureNats nats(dir / "tls.conf");
  bus::Options o;
  o.url = nats.url();
  o.user = "finder";
  o.password = password_of("finder");
  o.connect_attempts = 1;
  SECTION("verified against the CA") {
    o.tls_ca_file = (dir / "ca.crt").string();
    auto bus = bus::Bus::connect(o);
    runtime::declare_pipeline(*bus);
    CHECK(bus->publish(runtime::subjects::kMoveRequest, "over tls", "tls.1").status == bus::PublishStatus::Ok);
  }
  SECTION("without TLS the server refuses the client") {
    CHECK_THROWS_AS(bus::Bus::connect(o), bus::BusError);
  }
  SECTION("TLS without trusting the CA fails verification") {
    o.tls = true;
    CHECK_THROWS_AS(bus::Bus::connect(o), bus::BusError);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}
