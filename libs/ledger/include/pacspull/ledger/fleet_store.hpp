#pragma once
// What instances of the services tell each other through the ledger: the receivers' store
// status (the mover holds moves while every receiver refuses) and move-job leases.
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <string>

#include "pacspull/core/time.hpp"

namespace pacspull::ledger {

// A receiver's status, refreshed on change and every few seconds.
void report_receiver(pqxx::work& w, const std::string& instance_id, bool refusing, uint64_t free_bytes,
                     core::Time now);
// A receiver stopping removes its row (it no longer receives).
void forget_receiver(pqxx::work& w, const std::string& instance_id);

struct StoreHold {
  bool held = false;   // every receiver heard from within `fresh` refuses
  int receivers = 0;   // receivers heard from within `fresh`
  int refusing = 0;
};
StoreHold store_hold(pqxx::work& w, core::Time now, std::chrono::seconds fresh);

// The mover renews the leases of the jobs it runs; returns how many.
int renew_leases(pqxx::work& w, const std::string& mover_id, core::Time now, std::chrono::seconds lease);

}  // namespace pacspull::ledger
