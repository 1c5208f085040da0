-- pacspull ledger, version 2: the raw bytes beside every decoded text, and instances that
-- arrived twice with different content.

-- Text columns hold UTF-8 decoded by rules::Text (the filter's reading). When a value had
-- bytes outside printable ASCII, its raw bytes and the declared SpecificCharacterSet are
-- kept here, so `why` can show what the PACS really sent and a rule can be fixed.
CREATE TABLE text_raw (
  study_uid              text NOT NULL,
  series_uid             text NOT NULL DEFAULT '',   -- '' for study-level attributes
  attribute              text NOT NULL,              -- DICOM keyword
  raw                    bytea NOT NULL,
  specific_character_set bytea NOT NULL,
  decoded                text NOT NULL,
  source                 text NOT NULL,              -- receiver, finder
  recorded_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (study_uid, series_uid, attribute)
);

-- A SOP Instance UID received again with different content: the first, acknowledged copy
-- stays where it is (the only one ever dispatched); the second is kept aside.
CREATE TABLE instance_conflicts (
  id             bigserial PRIMARY KEY,
  sop_uid        text NOT NULL,
  study_uid      text NOT NULL,
  series_uid     text NOT NULL,
  kept_path      text NOT NULL,
  conflict_path  text NOT NULL,
  bytes          bigint NOT NULL DEFAULT 0,
  calling_ae     text NOT NULL DEFAULT '',
  receiver       text NOT NULL DEFAULT '',
  at             timestamptz NOT NULL DEFAULT now(),
  UNIQUE (conflict_path)
);
CREATE INDEX instance_conflicts_study_idx ON instance_conflicts (study_uid);
