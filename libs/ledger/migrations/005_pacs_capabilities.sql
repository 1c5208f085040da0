-- pacspull ledger, version 5: what each PACS can do (issue 9 part 1) and how the finder
-- watches studies on PACS without study-level counts (part 2).
--
-- One row per PACS: the probe's verdict (NULL = unknown), merged with the site's pins
-- (`pacs[].capabilities` in the site file), and the query plan the finder derived.
-- c_get and series_move are for the mover side (C-GET / series-level C-MOVE tests).
CREATE TABLE pacs_capabilities (
  pacs                text PRIMARY KEY REFERENCES pacs_nodes (name) ON DELETE CASCADE,
  study_modalities    boolean,   -- answers ModalitiesInStudy at study level
  study_counts        boolean,   -- answers NumberOfStudyRelatedInstances
  filters_modalities  boolean,   -- a ModalitiesInStudy matching key narrows the answers
  series_modality     boolean,   -- answers Modality at series level
  series_counts       boolean,   -- answers NumberOfSeriesRelatedInstances
  series_body_part    boolean,   -- answers BodyPartExamined at series level
  series_description  boolean,   -- answers SeriesDescription at series level
  image_level         boolean,   -- image-level C-FIND lists SOP instances
  result_cap          integer,   -- 0: no cap seen; n: the PACS stops after n answers
  c_get               boolean,
  series_move         boolean,
  timezone_offset     text,      -- TimezoneOffsetFromUTC, if the PACS tells
  pinned              text[] NOT NULL DEFAULT '{}',  -- fields the site pinned
  notes               text[] NOT NULL DEFAULT '{}',  -- what the probe saw
  plan                text NOT NULL DEFAULT '',      -- the finder's query plan, in words
  probe_error         text NOT NULL DEFAULT '',
  probed_at           timestamptz NOT NULL DEFAULT now()
);

-- Series fingerprint (series UIDs + per-series counts) of a study on a PACS without
-- study-level counts: stable when unchanged over N polls and a minimum age.
ALTER TABLE studies ADD COLUMN series_fingerprint text;
ALTER TABLE studies ADD COLUMN fingerprint_polls integer NOT NULL DEFAULT 0;
ALTER TABLE studies ADD COLUMN fingerprint_since timestamptz;
-- Series-level filtering before the move: the series the finder asked to move at the
-- last queue (NULL: the whole study); pacs_instances then counts only those series.
ALTER TABLE studies ADD COLUMN move_series text[];
