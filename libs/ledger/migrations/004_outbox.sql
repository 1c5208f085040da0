-- pacspull ledger, version 4: the transactional outbox. An event a committed state change
-- must produce (DispatchDone) is written here in the same transaction as the change, and
-- relayed to the bus by a publisher that retries until the bus acknowledges it. The message
-- id is unique: a relay that publishes again after a crash is dropped by the bus's
-- duplicate window, and consumers are idempotent by it beyond that window.
CREATE TABLE outbox (
  id            bigserial PRIMARY KEY,
  service       text NOT NULL,
  subject       text NOT NULL,
  msg_id        text NOT NULL UNIQUE,
  payload       bytea NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text NOT NULL DEFAULT '',
  next_attempt  timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (service, next_attempt) WHERE published_at IS NULL;
