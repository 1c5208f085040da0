-- pacspull ledger, version 8: the audit trail (issue 11 part 6, in the spirit of IHE ATNA).
-- One row per pull (a study queued by the finder, a study moved by the mover), dispatch
-- (a study sent to a target), manual request (a state-changing gRPC call, refused ones too)
-- and configuration change (rules reload, a service starting with a site file). `actor` is
-- who: a service name for automatic work, `token:<id>` / `cert:<common name>` for a manual
-- request (the peer address in `detail`). `object` is what: a StudyInstanceUID, an RPC
-- method, a rules version or a file. `detail` never holds PHI beyond the study UID (no
-- PatientName, PatientID, AccessionNumber, birth date). Rows are only ever appended.
CREATE TABLE audit_log (
  id      bigserial PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  actor   text NOT NULL,
  action  text NOT NULL,
  object  text NOT NULL DEFAULT '',
  detail  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_action_at_idx ON audit_log (action, at);
