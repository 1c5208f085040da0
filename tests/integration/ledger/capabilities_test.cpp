// What the mover learns about a PACS (issue 9 part 6, migration 15), in the real ledger and
// as the mover's own role: series_move recorded with the row created when the finder has not
// probed yet, kept through the finder's next save, never over a pin, nothing for a PACS the
// ledger does not list.
#include <catch2/catch.hpp>

#include <pqxx/pqxx>
#include <random>

#include "pacspull/config/site_config.hpp"
#include "pacspull/ledger/ledger.hpp"
#include "pacspull/ledger/pacs_store.hpp"
#include "test_db.hpp"

using namespace pacspull;

namespace {

// A login role that is a member of pacspull_mover, dropped at the end.
struct MoverLogin {
  std::string admin = testing::test_pg_admin_url();
  std::string name = "t_mover_" + std::to_string(std::random_device{}() % 1000000000);
  MoverLogin() {
    pqxx::connection c(admin);
    pqxx::nontransaction(c).exec("CREATE ROLE " + name + " LOGIN IN ROLE pacspull_mover");
  }
  ~MoverLogin() {
    try {
      pqxx::connection c(admin);
      pqxx::nontransaction(c).exec("DROP ROLE IF EXISTS " + name);
    } catch (...) {
    }
  }
};

}  // namespace

TEST_CASE("The mover records a learned series_move: row created, kept by the finder's save, never over a pin",
          "[integration][ledger][capabilities]") {
  testing::TestDatabase db;
  ledger::Ledger owner(db.url());
  REQUIRE(owner.migrate() >= 15);
  owner.transact([](pqxx::work& w) {
    w.exec("INSERT INTO pacs_nodes (name, ae_title, host, port) VALUES ('p', 'P', 'h', 104), ('q', 'Q', 'h', 104), "
           "('pinned', 'R', 'h', 104)");
  });
  MoverLogin login;
  ledger::Ledger mover(config::with_pg_credentials(db.url(), login.name, ""));

  // Not probed yet: the mover's finding creates the row, everything else unknown.
  CHECK(mover.transact([](pqxx::work& w) {
    return ledger::record_learned_capability(w, "p", ledger::LearnedCapability::SeriesMove, false);
  }));
  auto row = mover.transact([](pqxx::work& w) { return ledger::load_pacs_capabilities(w, "p"); });
  REQUIRE(row);
  CHECK(row->capabilities.series_move == false);
  CHECK_FALSE(row->capabilities.c_get);
  CHECK_FALSE(row->capabilities.study_counts);
  CHECK(row->learned == std::vector<std::string>{"series_move"});

  // The finder's probe (which cannot tell series_move) saves the row again: the finding stays.
  ledger::PacsCapabilityRow probed;
  probed.pacs = "p";
  probed.capabilities.study_counts = true;
  probed.capabilities.c_get = true;
  probed.plan = "study level";
  owner.transact([&](pqxx::work& w) { ledger::save_pacs_capabilities(w, probed); });
  row = mover.transact([](pqxx::work& w) { return ledger::load_pacs_capabilities(w, "p"); });
  REQUIRE(row);
  CHECK(row->capabilities.series_move == false);
  CHECK(row->capabilities.c_get == true);
  CHECK(row->capabilities.study_counts == true);
  CHECK(row->learned == std::vector<std::string>{"series_move"});

  // Learned again (the other way): updated, listed once.
  CHECK(mover.transact([](pqxx::work& w) {
    return ledger::record_learned_capability(w, "p", ledger::LearnedCapability::SeriesMove, true);
  }));
  row = mover.transact([](pqxx::work& w) { return ledger::load_pacs_capabilities(w, "p"); });
  CHECK(row->capabilities.series_move == true);
  CHECK(row->learned == std::vector<std::string>{"series_move"});

  // c_get, on another PACS.
  CHECK(mover.transact([](pqxx::work& w) {
    return ledger::record_learned_capability(w, "q", ledger::LearnedCapability::CGet, true);
  }));
  row = mover.transact([](pqxx::work& w) { return ledger::load_pacs_capabilities(w, "q"); });
  CHECK(row->capabilities.c_get == true);
  CHECK_FALSE(row->capabilities.series_move);

  // A value the site pinned is left as pinned.
  ledger::PacsCapabilityRow pinned;
  pinned.pacs = "pinned";
  pinned.capabilities.series_move = true;
  pinned.pinned = {"series_move"};
  owner.transact([&](pqxx::work& w) { ledger::save_pacs_capabilities(w, pinned); });
  CHECK_FALSE(mover.transact([](pqxx::work& w) {
    return ledger::record_learned_capability(w, "pinned", ledger::LearnedCapability::SeriesMove, false);
  }));
  row = mover.transact([](pqxx::work& w) { return ledger::load_pacs_capabilities(w, "pinned"); });
  CHECK(row->capabilities.series_move == true);
  CHECK(row->learned.empty());

  // A PACS the ledger does not list: nothing recorded, no error.
  CHECK_FALSE(mover.transact([](pqxx::work& w) {
    return ledger::record_learned_capability(w, "nowhere", ledger::LearnedCapability::SeriesMove, false);
  }));
  CHECK_FALSE(mover.transact([](pqxx::work& w) { return ledger::load_pacs_capabilities(w, "nowhere"); }));
}
