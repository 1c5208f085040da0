-- pacspull ledger, version 15: the mover reads and learns PACS capabilities (issue 9 part 6).
-- The mover reads a PACS's row of pacs_capabilities before it retrieves from it (c_get for
-- `retrieve: auto`, series_move for series-level retrieval) and records series_move when a
-- PACS shows it (ledger::record_learned_capability: UPDATE of that one column, or an INSERT of
-- the row when the finder has not probed the PACS yet; INSERT ... ON CONFLICT needs SELECT,
-- INSERT and UPDATE). `learned` names the columns the mover set, so `pullctl pacs` can say
-- where a value came from (probed, pinned or learned). The finder's upsert leaves `learned`
-- alone and keeps a learned c_get/series_move when its probe cannot tell (NULL).
ALTER TABLE pacs_capabilities ADD COLUMN IF NOT EXISTS learned text[] NOT NULL DEFAULT '{}';

INSERT INTO role_grants (role, table_name, privileges) VALUES
  ('pacspull_mover', 'pacs_capabilities', '{SELECT,INSERT,UPDATE}')
ON CONFLICT (role, table_name) DO UPDATE SET privileges = EXCLUDED.privileges;
SELECT pacspull_grant_service_roles();
