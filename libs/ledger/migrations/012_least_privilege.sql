-- pacspull ledger, version 12: least privilege per table (issue 11 part 4).
-- Migration 9 gave every service role SELECT, INSERT, UPDATE and DELETE on every table (and
-- by default on every table created later). From here on each role gets exactly what its
-- code does, table by table, from the list `role_grants` below: a service that is taken over
-- can no longer delete the ledger's history, rewrite another service's rows or read what it
-- never needs (the de-identification map, the outbox's payloads, the RIS orders).
--
-- role_grants is the whole truth: pacspull_grant_service_roles() (called by every migration
-- run, see Ledger::migrate) revokes everything the service roles hold on this schema's
-- tables and sequences (and the default privileges of migration 9), then grants the rows of
-- role_grants whose table exists, plus USAGE on the serial sequences of each table a role may
-- INSERT into. A table that no row names is the owner's alone: a later migration that adds a
-- table (or a store that starts to touch one more) adds its rows here, e.g.
--   INSERT INTO role_grants VALUES ('pacspull_checker', 'new_table', '{SELECT,INSERT}')
--   ON CONFLICT (role, table_name) DO UPDATE SET privileges = EXCLUDED.privileges;
-- and the e2e tests, whose services connect as their own roles, fail with "permission denied"
-- until it does. Nobody but the owner may create, alter, truncate or drop anything (no
-- TRUNCATE, REFERENCES or TRIGGER is ever granted); audit_log is append-only (INSERT, and
-- SELECT for pullctl), schema_migrations and role_grants are never written by a service.
-- Like migration 9 this needs no right to create roles: the grants apply to whichever of the
-- roles exist (CREATE ROLE ... NOLOGIN by a DBA, then `--migrate` again).
--
-- What each role does (ledger stores in libs/ledger/src, callers in services/<name>):
--   finder     observe_study, request_manual_pull, stuck_queued, list_studies (gRPC),
--              sync_pacs_nodes, save_pacs_capabilities (probe at start-up), upsert_ris_orders
--              and apply_ris_priority (RIS worklist: raises pending move jobs' priority),
--              record_audit (pull.queued, requests, config).
--   mover      enqueue_move, claim_next_job, finish_job, reset_running_jobs, renew_leases,
--              retry_job, list_jobs, study_sources, record_location, held_instances,
--              pacs_nodes, store_hold (receiver_status), record_instance/record_conflict
--              (C-GET: the mover stores what it retrieves itself), park_message.
--   receiver   record_instance, record_conflict, the unsolicited check (studies),
--              settled_studies_with_files and delete_study_files (retention: marks instances
--              and conflicts deleted, reads dispatches), report/forget_receiver.
--   filter     study_to_filter, record_verdict, mark_filtered, stuck_filtered,
--              series_for_replay, series_first_path, ris_context (RIS body parts), park_message.
--   checker    pulling_studies, apply_received, apply_repull, stuck_received, state_summary
--              and oldest_per_state (metrics).
--   dispatcher study_to_dispatch, queue_dispatches (deletes a superseded pending dispatch),
--              claim/renew/release/defer/finish_dispatch, unsent_instances, mark_sent,
--              settle_without_dispatch, record_deid_map, list_dispatches, the transactional
--              outbox (enqueue_event and its relay), park_message.
--   operator   pullctl: why, status (day_progress, recent_activity, oldest_pending), audit,
--              audit-log, parked list/replay/drop (locks and deletes parked_messages),
--              pacs probe (sync_pacs_nodes, save_pacs_capabilities). No de-identification
--              map, no outbox, no RIS orders.
-- Every service: INSERT events (record_event), INSERT audit_log (requests, config.loaded),
-- SELECT schema_migrations (the schema check at start-up).
-- Notes on PostgreSQL's rules: SELECT ... FOR UPDATE / FOR SHARE needs UPDATE; INSERT ... ON
-- CONFLICT DO UPDATE needs UPDATE; RETURNING, WHERE and an ON CONFLICT (columns) target need
-- SELECT (hence SELECT on text_raw for the roles that record raw texts).
CREATE TABLE IF NOT EXISTS role_grants (
  role       text NOT NULL,
  table_name text NOT NULL,
  privileges text[] NOT NULL,
  PRIMARY KEY (role, table_name),
  CHECK (privileges <@ ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']),
  -- The audit trail is append-only; the schema's own bookkeeping is read-only.
  CHECK (table_name <> 'audit_log' OR privileges <@ ARRAY['SELECT', 'INSERT']),
  CHECK (table_name NOT IN ('schema_migrations', 'role_grants') OR privileges <@ ARRAY['SELECT'])
);

INSERT INTO role_grants (role, table_name, privileges) VALUES
  -- finder: discovers studies and queues them; the RIS worklist; the PACS list and probe.
  ('pacspull_finder',     'studies',            '{SELECT,INSERT,UPDATE}'),
  ('pacspull_finder',     'study_locations',    '{SELECT,INSERT,UPDATE}'),
  ('pacspull_finder',     'instances',          '{SELECT}'),
  ('pacspull_finder',     'move_jobs',          '{SELECT,UPDATE}'),
  ('pacspull_finder',     'pacs_nodes',         '{SELECT,INSERT,UPDATE}'),
  ('pacspull_finder',     'pacs_capabilities',  '{SELECT,INSERT,UPDATE}'),
  ('pacspull_finder',     'ris_orders',         '{SELECT,INSERT,UPDATE}'),
  ('pacspull_finder',     'text_raw',           '{SELECT,INSERT}'),
  ('pacspull_finder',     'events',             '{INSERT}'),
  ('pacspull_finder',     'audit_log',          '{INSERT}'),
  ('pacspull_finder',     'schema_migrations',  '{SELECT}'),
  -- mover: move jobs from queue to outcome; C-GET stores instances like the receiver.
  ('pacspull_mover',      'studies',            '{SELECT,INSERT,UPDATE}'),
  ('pacspull_mover',      'study_locations',    '{SELECT,INSERT,UPDATE}'),
  ('pacspull_mover',      'move_jobs',          '{SELECT,INSERT,UPDATE}'),
  ('pacspull_mover',      'pacs_nodes',         '{SELECT}'),
  ('pacspull_mover',      'receiver_status',    '{SELECT}'),
  ('pacspull_mover',      'series',             '{SELECT,INSERT}'),
  ('pacspull_mover',      'instances',          '{SELECT,INSERT,UPDATE}'),
  ('pacspull_mover',      'instance_conflicts', '{SELECT,INSERT}'),
  ('pacspull_mover',      'text_raw',           '{SELECT,INSERT}'),
  ('pacspull_mover',      'parked_messages',    '{INSERT}'),
  ('pacspull_mover',      'events',             '{INSERT}'),
  ('pacspull_mover',      'audit_log',          '{INSERT}'),
  ('pacspull_mover',      'schema_migrations',  '{SELECT}'),
  -- receiver: records what arrives, its store's retention, its fleet status row.
  ('pacspull_receiver',   'studies',            '{SELECT,INSERT,UPDATE}'),
  ('pacspull_receiver',   'series',             '{SELECT,INSERT}'),
  ('pacspull_receiver',   'instances',          '{SELECT,INSERT,UPDATE}'),
  ('pacspull_receiver',   'instance_conflicts', '{SELECT,INSERT,UPDATE}'),
  ('pacspull_receiver',   'dispatches',         '{SELECT}'),
  ('pacspull_receiver',   'receiver_status',    '{SELECT,INSERT,UPDATE,DELETE}'),
  ('pacspull_receiver',   'text_raw',           '{SELECT,INSERT}'),
  ('pacspull_receiver',   'events',             '{INSERT}'),
  ('pacspull_receiver',   'audit_log',          '{INSERT}'),
  ('pacspull_receiver',   'schema_migrations',  '{SELECT}'),
  -- filter: series verdicts and the study's filtered generation.
  ('pacspull_filter',     'studies',            '{SELECT,UPDATE}'),
  ('pacspull_filter',     'series',             '{SELECT,UPDATE}'),
  ('pacspull_filter',     'instances',          '{SELECT}'),
  ('pacspull_filter',     'ris_orders',         '{SELECT}'),
  ('pacspull_filter',     'parked_messages',    '{INSERT}'),
  ('pacspull_filter',     'events',             '{INSERT}'),
  ('pacspull_filter',     'audit_log',          '{INSERT}'),
  ('pacspull_filter',     'schema_migrations',  '{SELECT}'),
  -- checker: received or re-pull, from counts; reads moves and locations.
  ('pacspull_checker',    'studies',            '{SELECT,UPDATE}'),
  ('pacspull_checker',    'instances',          '{SELECT}'),
  ('pacspull_checker',    'move_jobs',          '{SELECT}'),
  ('pacspull_checker',    'study_locations',    '{SELECT}'),
  ('pacspull_checker',    'events',             '{INSERT}'),
  ('pacspull_checker',    'audit_log',          '{INSERT}'),
  ('pacspull_checker',    'schema_migrations',  '{SELECT}'),
  -- dispatcher: dispatches and what was sent, de-identification map, its outbox.
  ('pacspull_dispatcher', 'studies',            '{SELECT,UPDATE}'),
  ('pacspull_dispatcher', 'series',             '{SELECT}'),
  ('pacspull_dispatcher', 'instances',          '{SELECT}'),
  ('pacspull_dispatcher', 'dispatches',         '{SELECT,INSERT,UPDATE,DELETE}'),
  ('pacspull_dispatcher', 'dispatch_instances', '{SELECT,INSERT}'),
  ('pacspull_dispatcher', 'deid_map',           '{SELECT,INSERT}'),
  ('pacspull_dispatcher', 'outbox',             '{SELECT,INSERT,UPDATE}'),
  ('pacspull_dispatcher', 'parked_messages',    '{INSERT}'),
  ('pacspull_dispatcher', 'events',             '{INSERT}'),
  ('pacspull_dispatcher', 'audit_log',          '{INSERT}'),
  ('pacspull_dispatcher', 'schema_migrations',  '{SELECT}'),
  -- operator (pullctl): reads the pipeline's story; writes only the PACS probe's results
  -- and takes parked messages out (replay, drop).
  ('pacspull_operator',   'studies',            '{SELECT}'),
  ('pacspull_operator',   'series',             '{SELECT}'),
  ('pacspull_operator',   'instances',          '{SELECT}'),
  ('pacspull_operator',   'study_locations',    '{SELECT}'),
  ('pacspull_operator',   'move_jobs',          '{SELECT}'),
  ('pacspull_operator',   'dispatches',         '{SELECT}'),
  ('pacspull_operator',   'events',             '{SELECT}'),
  ('pacspull_operator',   'text_raw',           '{SELECT}'),
  ('pacspull_operator',   'instance_conflicts', '{SELECT}'),
  ('pacspull_operator',   'pacs_nodes',         '{SELECT,INSERT,UPDATE}'),
  ('pacspull_operator',   'pacs_capabilities',  '{SELECT,INSERT,UPDATE}'),
  ('pacspull_operator',   'parked_messages',    '{SELECT,UPDATE,DELETE}'),
  ('pacspull_operator',   'audit_log',          '{SELECT}'),
  ('pacspull_operator',   'schema_migrations',  '{SELECT}')
ON CONFLICT (role, table_name) DO UPDATE SET privileges = EXCLUDED.privileges;

CREATE OR REPLACE FUNCTION pacspull_grant_service_roles() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r text;
  g record;
  seq text;
  sch text := current_schema();
BEGIN
  FOREACH r IN ARRAY ARRAY['pacspull_finder', 'pacspull_mover', 'pacspull_receiver', 'pacspull_filter',
                           'pacspull_checker', 'pacspull_dispatcher', 'pacspull_operator'] LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', sch, r);
    -- Everything migration 9 (or anyone) gave, then exactly the list.
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', sch, r);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', sch, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES FROM %I', sch, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON SEQUENCES FROM %I', sch, r);
    FOR g IN SELECT table_name, privileges FROM role_grants
             WHERE role = r AND to_regclass(format('%I.%I', sch, table_name)) IS NOT NULL ORDER BY table_name LOOP
      EXECUTE format('GRANT %s ON %I.%I TO %I', array_to_string(g.privileges, ', '), sch, g.table_name, r);
      IF 'INSERT' = ANY (g.privileges) THEN
        FOR seq IN SELECT pg_get_serial_sequence(format('%I.%I', sch, g.table_name), a.attname)
                   FROM pg_attribute a
                   WHERE a.attrelid = format('%I.%I', sch, g.table_name)::regclass AND a.attnum > 0
                     AND NOT a.attisdropped
                     AND pg_get_serial_sequence(format('%I.%I', sch, g.table_name), a.attname) IS NOT NULL LOOP
          EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', seq, r);
        END LOOP;
      END IF;
    END LOOP;
    EXECUTE format('REVOKE EXECUTE ON FUNCTION pacspull_grant_service_roles() FROM %I', r);
  END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION pacspull_grant_service_roles() FROM PUBLIC;
-- Before PostgreSQL 15 every role may create tables in the public schema: not ours.
DO $$
BEGIN
  EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', current_schema());
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'pacspull: role % may not revoke CREATE on schema %', current_user, current_schema();
END
$$;
SELECT pacspull_grant_service_roles();
