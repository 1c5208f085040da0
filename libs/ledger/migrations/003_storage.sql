-- pacspull ledger, version 3: the store's life cycle. Files of a settled study leave the
-- store (deletion after hand-off, or after retention when never dispatched); the rows
-- stay, marked with when their files went.
ALTER TABLE studies ADD COLUMN files_deleted_at timestamptz;
ALTER TABLE instances ADD COLUMN deleted_at timestamptz;
ALTER TABLE instance_conflicts ADD COLUMN deleted_at timestamptz;
-- The sweep looks only at settled studies whose files are still there.
CREATE INDEX studies_files_kept_idx ON studies (state_changed_at)
  WHERE files_deleted_at IS NULL AND state IN ('unsupported', 'completed', 'failed');
