-- pacspull ledger, version 11: RIS orders read through DICOM Modality Worklist (issue 9 part 9).
-- One row per (RIS, AccessionNumber): the finder upserts what each worklist poll returns.
-- The RIS is the most trusted source of the exam's body part (the ordering doctor chose it)
-- and of its priority. body_parts is the UTF-8 reading (rules::Text) of the order's texts
-- (BodyPartExamined, procedure code meaning and value, requested procedure and step
-- descriptions, joined by " | "); body_parts_raw keeps their bytes as received, with the
-- declared SpecificCharacterSet, for `why` and for rule fixes (undeclared GBK survives).
-- scheduled_date is the hospital's local date of the scheduled step (DA): the filter's
-- tolerance mode reads all of a patient's orders of that day.
CREATE TABLE ris_orders (
  ris                    text NOT NULL,
  accession              text NOT NULL,
  patient_id             text NOT NULL DEFAULT '',
  body_parts             text NOT NULL DEFAULT '',
  body_parts_raw         bytea NOT NULL DEFAULT '\x'::bytea,
  specific_character_set text NOT NULL DEFAULT '',
  priority               text NOT NULL DEFAULT '',
  scheduled_date         text NOT NULL DEFAULT '',
  scheduled_at           timestamptz,
  first_seen_at          timestamptz NOT NULL,
  last_seen_at           timestamptz NOT NULL,
  PRIMARY KEY (ris, accession)
);
CREATE INDEX ris_orders_accession_idx ON ris_orders (accession);
CREATE INDEX ris_orders_patient_day_idx ON ris_orders (patient_id, scheduled_date);
