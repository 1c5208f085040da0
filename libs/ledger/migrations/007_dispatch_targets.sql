-- pacspull ledger, version 7: dispatches per target, a priority queue, de-identification maps.
-- A study generation has one dispatch per AI target (C-STORE node or bus-only consumer); the
-- dispatcher takes pending dispatches per target ordered like the move queue (priority, then
-- exam time) with a window of N in flight, each claimed under a lease so a crashed
-- dispatcher's work is taken up again. `version` counts the dispatches of (study, target)
-- that were sent before this one plus one: version 2 is a re-inform.
ALTER TABLE dispatches ADD COLUMN target       text NOT NULL DEFAULT 'ai_node';
ALTER TABLE dispatches ADD COLUMN priority     integer NOT NULL DEFAULT 1;
ALTER TABLE dispatches ADD COLUMN exam_time    timestamptz;
ALTER TABLE dispatches ADD COLUMN version      integer NOT NULL DEFAULT 1;
ALTER TABLE dispatches ADD COLUMN claimed_by   text;
ALTER TABLE dispatches ADD COLUMN claimed_until timestamptz;
ALTER TABLE dispatches ADD COLUMN not_before   timestamptz NOT NULL DEFAULT now();
ALTER TABLE dispatches DROP CONSTRAINT dispatches_study_uid_generation_key;
ALTER TABLE dispatches ADD CONSTRAINT dispatches_study_generation_target_key UNIQUE (study_uid, generation, target);
CREATE INDEX dispatches_queue_idx ON dispatches (target, priority DESC, exam_time, id) WHERE status = 'pending';

-- What a de-identified copy replaced, per target: derived UIDs and the pseudonymous patient
-- id, so results that come back under them are matched to our studies.
CREATE TABLE deid_map (
  target        text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('uid', 'patient')),
  original      text NOT NULL,
  deidentified  text NOT NULL,
  study_uid     text NOT NULL,
  first_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target, kind, original)
);
CREATE INDEX deid_map_reverse_idx ON deid_map (target, deidentified);
