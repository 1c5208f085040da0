#include "pipeline_fixture.hpp"

#include <csignal>
#include <fstream>
#include <stdexcept>

namespace pacspull::testing {
namespace fs = std::filesystem;

const std::vector<std::string>& PipelineFixture::services() {
  static const std::vector<std::string> all{"finder", "mover", "receiver", "filter", "checker", "dispatcher"};
  return all;
}

PipelineFixture::PipelineFixture(const std::string& name) : PipelineFixture(name, Options{}) {}

PipelineFixture::PipelineFixture(const std::string& name, Options options) : options_(std::move(options)) {
  dir_ = make_temp_dir("pacspull-" + name);
  bin_ = fs::path(env_or("PACSPULL_BINARY_DIR", "build")) / "bin";
  day_ = dir_ / "day";
  GenDayOptions gen;
  gen.canary = options_.canary;
  fs::path manifest = run_gen_day(day_, gen);
  std::ifstream(manifest) >> manifest_;

  nats_port_ = free_tcp_port();
  start_nats();

  ai_ = std::make_unique<StoreScpNode>(dir_ / "ai-node", "AINODE");
  receiver_port_ = free_tcp_port();
  pacs_ = std::make_unique<OrthancPacs>(dir_ / "orthanc", "TESTPACS",
                                        std::vector<DicomNode>{{"PACSPULL", "127.0.0.1", receiver_port_}});
  for (const auto& s : services()) {
    grpc_ports_[s] = free_tcp_port();
    metrics_ports_[s] = free_tcp_port();
  }
  write_config();
  prepare_ledger();
}

PipelineFixture::~PipelineFixture() {
  stop_all();
  drop_logins();
  std::error_code ec;
  if (env_or("PACSPULL_KEEP_TEST_DIRS", "").empty()) fs::remove_all(dir_, ec);
}

void PipelineFixture::write_config() {
  config_ = dir_ / "site.yaml";
  std::ofstream f(config_);
  auto x = [&](const std::string& section) {
    auto it = options_.extra.find(section);
    return it == options_.extra.end() ? std::string() : it->second;
  };
  f << "site: e2e\n"
    << "ledger: {url: \"" << db_.url() << "\"}\n"
    << "bus: {url: \"nats://127.0.0.1:" << nats_port_ << "\"}\n"
    << "reconcile_after: 5s\n"
    << "local:\n  ae_title: PACSPULL\n  receiver_ae_title: PACSPULL\n  storage_root: " << (dir_ / "store").string()
    << "\n  connect_timeout: 5s\n  acse_timeout: 10s\n  dimse_timeout: 30s\n"
    << "pacs:\n  - {name: testpacs, ae_title: " << pacs_->ae_title() << ", host: 127.0.0.1, port: "
    << pacs_->dicom_port() << "}\n"
    << "ai_node: {ae_title: AINODE, host: 127.0.0.1, port: " << ai_->port() << "}\n"
    << "finder: {poll_interval: 1s, crossday: -1, grpc_port: " << grpc_ports_["finder"]
    << ", metrics_port: " << metrics_ports_["finder"] << x("finder") << "}\n"
    << "mover: {" << (x("mover").find("max_attempts") == std::string::npos ? "max_attempts: 5, retry_backoff: 1s, " : "")
    << "grpc_port: " << grpc_ports_["mover"]
    << ", metrics_port: " << metrics_ports_["mover"] << x("mover") << "}\n"
    << "receiver: {dicom_port: " << receiver_port_ << ", grpc_port: " << grpc_ports_["receiver"]
    << ", metrics_port: " << metrics_ports_["receiver"] << x("receiver") << "}\n"
    << "filter: {grpc_port: " << grpc_ports_["filter"] << ", metrics_port: " << metrics_ports_["filter"] << x("filter")
    << "}\n"
    << "checker: {stable_age: 2s, scan_interval: 500ms, max_repulls: 3, grpc_port: " << grpc_ports_["checker"]
    << ", metrics_port: " << metrics_ports_["checker"] << x("checker") << "}\n"
    << "dispatcher: {grpc_port: " << grpc_ports_["dispatcher"] << ", metrics_port: " << metrics_ports_["dispatcher"]
    << x("dispatcher") << "}\n"
    << "grpc: {token_file: " << (dir_ / "grpc-token").string() << "}\n"  // pullctl finder pull (issue 11)
    << options_.site_tail;
  std::ofstream(dir_ / "grpc-token") << "e2e:0123456789abcdef0123456789abcdef\n";
}

void PipelineFixture::prepare_ledger() {
  // The owner migrates once, as the compose `migrate` one-shot and the k8s Job do.
  const fs::path log = dir_ / "migrate.log";
  if (run_command({(bin_ / "pacspull-finder").string(), "--migrate", "--config", config_.string()},
                  std::chrono::seconds(120), log) != 0)
    throw std::runtime_error("pacspull-finder --migrate failed:\n" + log_tail(log));
  login_password_ = "e2e-" + db_.name() + "-pw";
  pqxx::connection c(db_.url());
  pqxx::nontransaction n(c);
  std::vector<std::string> all = services();
  all.push_back("operator");
  for (const auto& s : all) {
    const std::string login = db_.name() + "_" + s;
    n.exec("CREATE ROLE " + n.quote_name(login) + " LOGIN PASSWORD " + n.quote(login_password_) + " IN ROLE " +
           n.quote_name("pacspull_" + s));
    logins_[s] = login;
  }
}

void PipelineFixture::drop_logins() {
  if (logins_.empty()) return;
  try {
    pqxx::connection c(db_.url());
    pqxx::nontransaction n(c);
    for (const auto& [s, login] : logins_) n.exec("DROP ROLE IF EXISTS " + n.quote_name(login));
  } catch (const std::exception&) {
    // a role left behind is dropped with the test cluster
  }
  logins_.clear();
}

std::map<std::string, std::string> PipelineFixture::service_env(const std::string& service) const {
  std::map<std::string, std::string> env{{"TCP_NODELAY", "1"}};
  if (auto it = logins_.find(service); it != logins_.end()) {
    env["PACSPULL_LEDGER_USER"] = it->second;
    env["PACSPULL_LEDGER_PASSWORD"] = login_password_;
    env["PACSPULL_LEDGER_MIGRATE"] = "off";
  }
  return env;
}

void PipelineFixture::start(const std::string& service) {
  running_.erase(service);
  fs::path exe = bin_ / ("pacspull-" + service);
  running_.emplace(service, ChildProcess::spawn({exe.string(), "--config", config_.string()}, service_env(service),
                                                dir_ / (service + ".log")));
  uint16_t port = grpc_ports_[service];
  if (!wait_for([&] { return tcp_port_open(port) || !running_[service].running(); }, std::chrono::seconds(30)) ||
      !running_[service].running())
    throw std::runtime_error(service + " did not start:\n" + service_log(service));
}

void PipelineFixture::start_all() {
  for (const auto& s : services()) start(s);
}

void PipelineFixture::kill9(const std::string& service) {
  auto it = running_.find(service);
  if (it == running_.end()) return;
  it->second.signal(SIGKILL);
  it->second.wait(std::chrono::seconds(10));
  running_.erase(it);
}

void PipelineFixture::stop_all() {
  for (auto& [name, p] : running_) p.signal(SIGTERM);
  for (auto& [name, p] : running_) p.stop(std::chrono::seconds(10));
  running_.clear();
}

void PipelineFixture::start_nats() {
  nats_ = ChildProcess::spawn({"nats-server", "-js", "-sd", (dir_ / "nats").string(), "-a", "127.0.0.1", "-p",
                               std::to_string(nats_port_)},
                              {}, dir_ / "nats.log");
  if (!wait_for([&] { return tcp_port_open(nats_port_); }, std::chrono::seconds(20)))
    throw std::runtime_error("nats-server did not start: " + log_tail(dir_ / "nats.log"));
}

void PipelineFixture::stop_nats() { nats_.stop(std::chrono::seconds(10)); }

void PipelineFixture::kill9_nats() {
  nats_.signal(SIGKILL);
  nats_.wait(std::chrono::seconds(10));
}

void PipelineFixture::upload_part(const std::string& part) { pacs_->upload(day_ / part); }

std::string PipelineFixture::query(const std::string& sql) {
  pqxx::connection c(db_.url());
  pqxx::read_transaction t(c);
  pqxx::result r = t.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

long PipelineFixture::count(const std::string& sql) {
  std::string v = query(sql);
  return v.empty() ? 0 : std::stol(v);
}

bool PipelineFixture::wait_count(const std::string& sql, long n, int seconds) {
  return wait_for(
      [&] {
        try {
          return count(sql) >= n;
        } catch (const std::exception&) {
          return false;  // schema not migrated yet
        }
      },
      std::chrono::seconds(seconds), std::chrono::milliseconds(200));
}

std::string PipelineFixture::service_log(const std::string& service) const {
  return log_tail(dir_ / (service + ".log"), 6000);
}

std::string PipelineFixture::pullctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{(bin_ / "pullctl").string(), "--config", config_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  fs::path out = dir_ / "pullctl.out";
  fs::remove(out);
  run_command(argv, std::chrono::seconds(60), out, service_env("operator"));
  return read_file(out);
}

long PipelineFixture::expected_settled() const {
  long n = 0;
  for (const auto& s : manifest_["studies"])
    if (s["expected"]["state"] != "not_pulled") ++n;
  return n;
}

std::set<std::string> PipelineFixture::expected_sops() const {
  std::set<std::string> out;
  for (const auto& s : manifest_["studies"]) {
    std::set<std::string> wanted;
    for (const auto& uid : s["expected"]["dispatch"]) wanted.insert(uid.get<std::string>());
    for (const auto& series : s["series"])
      if (wanted.count(series["series_instance_uid"].get<std::string>()))
        for (const auto& i : series["instances"]) out.insert(i["sop_instance_uid"].get<std::string>());
  }
  return out;
}

const nlohmann::json& PipelineFixture::study(const std::string& key) const {
  for (const auto& s : manifest_["studies"])
    if (s["key"] == key) return s;
  throw std::out_of_range("no study " + key + " in the manifest");
}

}  // namespace pacspull::testing
