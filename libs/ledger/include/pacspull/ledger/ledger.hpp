#pragma once
// The PostgreSQL ledger adapter. A Ledger owns one connection guarded by a mutex: calls
// from several threads are serialised (the receiver opens one Ledger per worker when
// it needs parallel writes). Transactions that fail on a broken connection or a
// serialization conflict are retried with a fresh connection (bounded); anything else
// is a permanent error for that call.
#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pacspull/rules/text.hpp"

namespace pacspull::ledger {

class LedgerError : public std::runtime_error {
 public:
  LedgerError(const std::string& what, bool retryable) : std::runtime_error(what), retryable_(retryable) {}
  bool retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

class Ledger {
 public:
  struct Options {
    int attempts = 5;
    std::chrono::milliseconds backoff{200};
  };
  // Connects at once; throws LedgerError(retryable) when the server is unreachable.
  explicit Ledger(std::string url, Options options);
  explicit Ledger(std::string url) : Ledger(std::move(url), Options{}) {}

  // Applies the migrations not yet applied, under an advisory lock so that services
  // starting together do not race, then refreshes the service roles' grants (migration 9).
  // Returns the schema version. Needs the schema's owner (or a superuser).
  int migrate();

  // What a starting service does with the schema (`ledger.migrate`, issue 11 part 4):
  // Auto migrates when connected as a role that may (may_migrate()), otherwise checks; Check
  // never migrates. Either way it throws LedgerError(permanent) naming the missing migrations
  // and the one-shot `--migrate` step when the schema is behind this build. Returns the
  // schema version.
  enum class SchemaMode { Auto, Check };
  int prepare_schema(SchemaMode mode);
  // True when the connected role owns the schema_migrations table (or, before the first
  // migration, may create tables in the schema) or is a superuser.
  bool may_migrate();
  // The compiled migrations the database has not applied, by version.
  std::vector<int> missing_migrations();

  // Runs `fn(work)` and commits. Retries the whole function on retryable failures, so
  // `fn` must not have side effects outside the transaction.
  template <class Fn>
  auto transact(Fn&& fn) -> decltype(fn(std::declval<pqxx::work&>())) {
    using R = decltype(fn(std::declval<pqxx::work&>()));
    std::lock_guard lock(mu_);
    for (int attempt = 1;; ++attempt) {
      try {
        pqxx::connection& c = connection_locked();
        pqxx::work w(c);
        if constexpr (std::is_void_v<R>) {
          fn(w);
          w.commit();
          return;
        } else {
          R r = fn(w);
          w.commit();
          return r;
        }
      } catch (const std::exception& e) {
        handle_failure(e, attempt);
      }
    }
  }

  bool healthy();
  const std::string& url() const { return url_; }

 private:
  pqxx::connection& connection_locked();
  // Rethrows as LedgerError when the failure is permanent or attempts are exhausted;
  // otherwise drops the connection and waits before the next attempt.
  void handle_failure(const std::exception& e, int attempt);

  std::string url_;
  Options options_;
  std::mutex mu_;
  std::unique_ptr<pqxx::connection> conn_;
};

// Appends one line to the event trail of a study (and series). `detail` and `attrs_json`
// are Text: anything that came from outside was decoded on its way in.
void record_event(pqxx::work& w, const std::string& study_uid, const std::string& series_uid,
                  const std::string& service, const std::string& kind, const rules::Text& detail,
                  const rules::Text& attrs_json = {});

// Keeps the raw bytes of decoded attributes beside them (table text_raw; first record wins).
void record_raw_texts(pqxx::work& w, const std::string& study_uid, const std::string& series_uid,
                      const std::vector<rules::RawText>& raws, const std::string& source);

// Keeps a message no handler could process where an operator sees it (never dropped).
void park_message(pqxx::work& w, const std::string& service, const std::string& subject, const std::string& payload,
                  const rules::Text& reason);

}  // namespace pacspull::ledger
