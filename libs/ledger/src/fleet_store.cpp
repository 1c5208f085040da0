#include "pacspull/ledger/fleet_store.hpp"

namespace pacspull::ledger {
namespace {

constexpr const char* kReport = R"sql(
INSERT INTO receiver_status (instance_id, refusing, free_bytes, updated_at) VALUES ($1, $2, $3, to_timestamp($4))
ON CONFLICT (instance_id) DO UPDATE SET refusing = excluded.refusing, free_bytes = excluded.free_bytes,
  updated_at = excluded.updated_at)sql";

constexpr const char* kForget = "DELETE FROM receiver_status WHERE instance_id = $1";

constexpr const char* kHold = R"sql(
SELECT count(*), count(*) FILTER (WHERE refusing) FROM receiver_status
WHERE updated_at >= to_timestamp($1) - make_interval(secs => $2))sql";

constexpr const char* kRenew = R"sql(
UPDATE move_jobs SET lease_until = to_timestamp($2) + make_interval(secs => $3)
WHERE status = 'running' AND claimed_by = $1)sql";

double epoch(core::Time t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

}  // namespace

void report_receiver(pqxx::work& w, const std::string& instance_id, bool refusing, uint64_t free_bytes,
                     core::Time now) {
  w.exec_params(kReport, instance_id, refusing, static_cast<long long>(free_bytes), epoch(now));
}

void forget_receiver(pqxx::work& w, const std::string& instance_id) { w.exec_params(kForget, instance_id); }

StoreHold store_hold(pqxx::work& w, core::Time now, std::chrono::seconds fresh) {
  const pqxx::row r = w.exec_params1(kHold, epoch(now), static_cast<double>(fresh.count()));
  StoreHold h;
  h.receivers = r[0].as<int>();
  h.refusing = r[1].as<int>();
  h.held = h.receivers > 0 && h.refusing == h.receivers;
  return h;
}

int renew_leases(pqxx::work& w, const std::string& mover_id, core::Time now, std::chrono::seconds lease) {
  return static_cast<int>(
      w.exec_params(kRenew, mover_id, epoch(now), static_cast<double>(lease.count())).affected_rows());
}

}  // namespace pacspull::ledger
