#pragma once
// The whole pipeline on one machine: a fresh ledger database, a private nats-server,
// Orthanc loaded with a generated day, storescp as the AI node, and the six service
// binaries started as real processes that can be killed and restarted.
#include <pqxx/pqxx>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "orthanc.hpp"
#include "peers.hpp"
#include "process.hpp"
#include "test_db.hpp"

namespace pacspull::testing {

class PipelineFixture {
 public:
  // Per-test additions to the site file: extra[section] is appended inside that section's
  // flow mapping, e.g. extra["mover"] = ", max_attempts: 10, retry_backoff: 2s" (an extra
  // naming max_attempts replaces the mover's default retry keys).
  struct Options {
    std::map<std::string, std::string> extra;
    std::string canary;      // gen_day.py --canary PREFIX (the PHI canary test)
    std::string site_tail;   // top-level lines appended to the site file, e.g. "log: {level: debug}\n"
  };
  explicit PipelineFixture(const std::string& name);
  PipelineFixture(const std::string& name, Options options);
  ~PipelineFixture();

  static const std::vector<std::string>& services();
  void start_all();
  void start(const std::string& service);
  void kill9(const std::string& service);
  void stop_all();
  void upload_part(const std::string& part);
  // SIGKILL of nats-server, restarted on the same port and store.
  void kill9_nats();
  // SIGTERM: nats-server flushes its store and stops (start_nats brings it back).
  void stop_nats();
  void start_nats();

  // One value from the ledger ("" when no row).
  std::string query(const std::string& sql);
  long count(const std::string& sql);
  // Waits until `sql` returns a count >= n (deadline in seconds); false on timeout.
  bool wait_count(const std::string& sql, long n, int seconds);
  std::string service_log(const std::string& service) const;
  std::string pullctl(const std::vector<std::string>& args);
  // The environment a service (or "operator": pullctl) runs with: its own PostgreSQL login
  // (a member of pacspull_<service>, migration 12's least privilege), ledger.migrate off.
  std::map<std::string, std::string> service_env(const std::string& service) const;

  const nlohmann::json& manifest() const { return manifest_; }
  const nlohmann::json& study(const std::string& key) const;
  StoreScpNode& ai() { return *ai_; }
  OrthancPacs& pacs() { return *pacs_; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& config_path() const { return config_; }
  const std::filesystem::path& bin_dir() const { return bin_; }
  const std::filesystem::path& day_dir() const { return day_; }
  // The port the PACS knows as the C-MOVE destination (receiver.dicom_port in the site file).
  uint16_t receiver_port() const { return receiver_port_; }
  std::string nats_url() const { return "nats://127.0.0.1:" + std::to_string(nats_port_); }
  uint16_t grpc_port(const std::string& service) const { return grpc_ports_.at(service); }
  uint16_t metrics_port(const std::string& service) const { return metrics_ports_.at(service); }
  // From the manifest: studies that must settle (all but not_pulled), and the SOP Instance
  // UIDs that must reach the AI node.
  long expected_settled() const;
  std::set<std::string> expected_sops() const;

 private:
  void write_config();
  // The schema step as the owner (`pacspull-finder --migrate`), then a login role per
  // service and pullctl, <database>_<service>, granted pacspull_<service>.
  void prepare_ledger();
  void drop_logins();

  std::filesystem::path dir_, day_, config_, bin_;
  TestDatabase db_;
  uint16_t nats_port_ = 0, receiver_port_ = 0;
  ChildProcess nats_;
  std::unique_ptr<StoreScpNode> ai_;
  std::unique_ptr<OrthancPacs> pacs_;
  nlohmann::json manifest_;
  std::map<std::string, uint16_t> grpc_ports_, metrics_ports_;
  std::map<std::string, ChildProcess> running_;
  std::map<std::string, std::string> logins_;  // service -> login role
  std::string login_password_;
  Options options_;
};

}  // namespace pacspull::testing
