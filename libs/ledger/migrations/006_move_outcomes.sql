-- pacspull ledger, version 6: retrieval outcomes and methods (issue 9 parts 5-8, the mover).
-- A move job may name a list of series (series-level filtering before the move), records
-- the outcome class of its last attempt (ok/retryable/permanent and why: "destination-
-- unknown", "unreachable", ...), the PACS it was retrieved from (failover may pick another
-- PACS than the one the request named) and how (C-MOVE or C-GET).
ALTER TABLE move_jobs ADD COLUMN series_uids text[] NOT NULL DEFAULT '{}';
ALTER TABLE move_jobs ADD COLUMN outcome text NOT NULL DEFAULT '';
ALTER TABLE move_jobs ADD COLUMN outcome_kind text NOT NULL DEFAULT '';
ALTER TABLE move_jobs ADD COLUMN retrieved_from text NOT NULL DEFAULT '';
ALTER TABLE move_jobs ADD COLUMN method text NOT NULL DEFAULT '';
