-- pacspull ledger, version 9: a PostgreSQL role per service, least privilege (issue 11 part 4).
-- The schema belongs to the role that migrates it (the owner: `pacspull-<service> --migrate`,
-- or every service with `ledger.migrate: auto` while it connects as the owner). The services
-- connect as their own roles, which may read and write rows but not create, alter or drop
-- anything, nor record a migration, so a compromised service cannot change the schema.
--   pacspull_finder, pacspull_mover, pacspull_receiver, pacspull_filter, pacspull_checker,
--   pacspull_dispatcher: the services; pacspull_operator: pullctl.
-- They are created NOLOGIN (roles are per cluster: creating them again is a no-op); the
-- deployment gives each a login and password (`pacspull-<service> --migrate` does it from
-- PACSPULL_ROLE_PASSWORD_<SERVICE>[_FILE], see deploy/README), or grants the role to a login
-- of its own (GRANT pacspull_finder TO finder_login). An owner that may not create roles (a
-- managed database) gets a notice and no roles: the grants then apply to whichever exist.
DO $$
DECLARE
  r text;
BEGIN
  IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
    RAISE NOTICE 'pacspull: role % may not create roles; service roles not created', current_user;
    RETURN;
  END IF;
  FOREACH r IN ARRAY ARRAY['pacspull_finder', 'pacspull_mover', 'pacspull_receiver', 'pacspull_filter',
                           'pacspull_checker', 'pacspull_dispatcher', 'pacspull_operator'] LOOP
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- another database of the cluster created it at the same moment
    END;
  END LOOP;
END
$$;

-- The grants, as a function the migrating step calls after every run of migrations (see
-- Ledger::migrate), so tables added by later migrations are covered even when they were
-- created by another owner; ALTER DEFAULT PRIVILEGES covers tables this owner creates later.
-- Rows only: SELECT, INSERT, UPDATE, DELETE on tables, sequences for serial ids. The audit
-- trail (audit_log, when present) is append-only for everyone; schema_migrations is read-only.
CREATE OR REPLACE FUNCTION pacspull_grant_service_roles() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r text;
  sch text := current_schema();
BEGIN
  FOREACH r IN ARRAY ARRAY['pacspull_finder', 'pacspull_mover', 'pacspull_receiver', 'pacspull_filter',
                           'pacspull_checker', 'pacspull_dispatcher', 'pacspull_operator'] LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', sch, r);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', sch, r);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I', sch, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', sch, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I', sch, r);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM %I', r);
    IF to_regclass('audit_log') IS NOT NULL THEN
      EXECUTE format('REVOKE UPDATE, DELETE ON audit_log FROM %I', r);
    END IF;
    EXECUTE format('REVOKE EXECUTE ON FUNCTION pacspull_grant_service_roles() FROM %I', r);
  END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION pacspull_grant_service_roles() FROM PUBLIC;
SELECT pacspull_grant_service_roles();
