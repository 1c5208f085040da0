-- pacspull ledger, version 10: what one service instance tells the others (issue 7 part 2,
-- issue 9: move-job leases).
-- receiver_status: each receiver's view of the shared store (refusing above the high
-- watermark), refreshed every few seconds; the mover holds its moves while every receiver
-- heard from recently is refusing, instead of spending attempts on a store that is full.
CREATE TABLE receiver_status (
  instance_id text PRIMARY KEY,
  refusing    boolean NOT NULL,
  free_bytes  bigint NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL
);
-- A running move job belongs to the mover that claimed it for as long as its lease is
-- renewed; a job whose lease ran out (its mover died) is claimed again by any mover, and a
-- mover starting again takes back only its own jobs.
ALTER TABLE move_jobs ADD COLUMN claimed_by text NOT NULL DEFAULT '';
ALTER TABLE move_jobs ADD COLUMN lease_until timestamptz;
