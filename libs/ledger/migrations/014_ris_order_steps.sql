-- pacspull ledger, version 14: the scheduled procedure steps behind each RIS order (issue 9
-- part 9). A Modality Worklist answers one item per scheduled procedure step, and one order
-- (AccessionNumber) may have several: a chest CT step and an abdomen step, or two chest steps.
-- Version 11 kept one row per (ris, accession), so the last step of a poll overwrote the
-- others. Now every step is kept here, by its own key (RequestedProcedureID/
-- ScheduledProcedureStepID, or its texts and schedule when the RIS names neither), and is
-- kept after it leaves the worklist (a performed step disappears from it). ris_orders
-- becomes the merge of an order's steps (pipeline::merge_ris_steps): union of body parts,
-- highest priority, earliest schedule; `steps` says how many were merged. The filter's
-- tolerance mode reads the patient's steps of a day from here, each on its own date.
CREATE TABLE ris_order_steps (
  ris                    text NOT NULL,
  accession              text NOT NULL,
  step_key               text NOT NULL,
  patient_id             text NOT NULL DEFAULT '',
  body_parts             text[] NOT NULL DEFAULT '{}',
  body_parts_raw         bytea NOT NULL DEFAULT '\x'::bytea,
  specific_character_set text NOT NULL DEFAULT '',
  priority               text NOT NULL DEFAULT '',
  scheduled_date         text NOT NULL DEFAULT '',
  scheduled_at           timestamptz,
  first_seen_at          timestamptz NOT NULL,
  last_seen_at           timestamptz NOT NULL,
  PRIMARY KEY (ris, accession, step_key)
);
CREATE INDEX ris_order_steps_patient_day_idx ON ris_order_steps (patient_id, scheduled_date);

ALTER TABLE ris_orders ADD COLUMN steps integer NOT NULL DEFAULT 1;

-- The orders stored so far become one step each (their key unknown: '').
INSERT INTO ris_order_steps (ris, accession, step_key, patient_id, body_parts, body_parts_raw, specific_character_set,
                             priority, scheduled_date, scheduled_at, first_seen_at, last_seen_at)
SELECT ris, accession, '', patient_id,
       CASE WHEN body_parts = '' THEN '{}'::text[] ELSE string_to_array(body_parts, ' | ') END,
       body_parts_raw, specific_character_set, priority, scheduled_date, scheduled_at, first_seen_at, last_seen_at
FROM ris_orders;

-- Least privilege (migration 12): the finder writes steps and orders; the filter reads both
-- (its order by accession, the patient's steps of the day in tolerance mode); pullctl `why`
-- shows the orders that matched a study (the operator already reads the study's accession
-- and patient id).
INSERT INTO role_grants (role, table_name, privileges) VALUES
  ('pacspull_finder',   'ris_order_steps', '{SELECT,INSERT,UPDATE}'),
  ('pacspull_filter',   'ris_order_steps', '{SELECT}'),
  ('pacspull_operator', 'ris_orders',      '{SELECT}'),
  ('pacspull_operator', 'ris_order_steps', '{SELECT}')
ON CONFLICT (role, table_name) DO UPDATE SET privileges = EXCLUDED.privileges;
SELECT pacspull_grant_service_roles();
