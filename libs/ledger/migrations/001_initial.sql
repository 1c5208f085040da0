-- pacspull ledger, version 1. The ledger is the truth for crash-safe resume: every
-- stage records what it did here before it acks a message or answers a peer.

CREATE TABLE pacs_nodes (
  name        text PRIMARY KEY,
  ae_title    text NOT NULL,
  host        text NOT NULL,
  port        integer NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE studies (
  study_uid           text PRIMARY KEY,
  accession_number    text NOT NULL DEFAULT '',
  patient_id          text NOT NULL DEFAULT '',
  study_date          text NOT NULL DEFAULT '',       -- DICOM DA, as the PACS gave it
  exam_time           timestamptz,
  modalities          text NOT NULL DEFAULT '',       -- ModalitiesInStudy, e.g. CT\PR
  description         text NOT NULL DEFAULT '',
  state               text NOT NULL DEFAULT 'found'
                      CHECK (state IN ('found','queued','pulling','received','unsupported','completed','failed')),
  priority            integer NOT NULL DEFAULT 1,
  pacs_instances      integer,                        -- NumberOfStudyRelatedInstances at the last poll
  pull_at_once        boolean NOT NULL DEFAULT false, -- DX family
  generation          integer NOT NULL DEFAULT 0,     -- bumps with every pull requested
  filtered_generation integer NOT NULL DEFAULT 0,
  dispatched_generation integer NOT NULL DEFAULT 0,
  repulls             integer NOT NULL DEFAULT 0,
  short               boolean NOT NULL DEFAULT false,
  unsolicited         boolean NOT NULL DEFAULT false, -- images arrived that no finder asked for
  first_seen_at       timestamptz NOT NULL DEFAULT now(),
  stable_at           timestamptz,
  last_instance_at    timestamptz,
  state_changed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX studies_state_idx ON studies (state, state_changed_at);
CREATE INDEX studies_date_idx ON studies (study_date, state);
CREATE INDEX studies_accession_idx ON studies (accession_number);
CREATE INDEX studies_patient_idx ON studies (patient_id);

-- Where each study was found: a study on two mirrored PACS has two rows.
CREATE TABLE study_locations (
  study_uid      text NOT NULL REFERENCES studies ON DELETE CASCADE,
  pacs           text NOT NULL REFERENCES pacs_nodes (name),
  pacs_instances integer,
  first_seen_at  timestamptz NOT NULL DEFAULT now(),
  last_seen_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (study_uid, pacs)
);

CREATE TABLE series (
  series_uid          text PRIMARY KEY,
  study_uid           text NOT NULL REFERENCES studies ON DELETE CASCADE,
  modality            text NOT NULL DEFAULT '',
  series_number       integer,
  description         text NOT NULL DEFAULT '',
  first_instance_path text NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  -- the filter's verdict, recorded once per study generation
  verdict             text CHECK (verdict IN ('pass','fail')),
  verdict_rule        text,
  verdict_reason      text,
  looked_at           jsonb,
  rule_version        text,
  family              text,
  slice_thickness     double precision,
  kernel              text,
  verdict_generation  integer,
  evaluated_at        timestamptz
);
CREATE INDEX series_study_idx ON series (study_uid);

CREATE TABLE instances (
  sop_uid      text PRIMARY KEY,
  series_uid   text NOT NULL REFERENCES series ON DELETE CASCADE,
  study_uid    text NOT NULL REFERENCES studies ON DELETE CASCADE,
  path         text NOT NULL,
  bytes        bigint NOT NULL DEFAULT 0,
  calling_ae   text NOT NULL DEFAULT '',
  receiver     text NOT NULL DEFAULT '',
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instances_study_idx ON instances (study_uid);
CREATE INDEX instances_series_idx ON instances (series_uid);

CREATE TABLE move_jobs (
  id          bigserial PRIMARY KEY,
  study_uid   text NOT NULL REFERENCES studies ON DELETE CASCADE,
  pacs        text NOT NULL,
  generation  integer NOT NULL,
  series_uid  text NOT NULL DEFAULT '',
  priority    integer NOT NULL DEFAULT 1,
  exam_time   timestamptz,
  reason      text NOT NULL DEFAULT '',
  status      text NOT NULL DEFAULT 'pending'
              CHECK (status IN ('pending','running','done','failed','superseded')),
  attempts    integer NOT NULL DEFAULT 0,
  not_before  timestamptz NOT NULL DEFAULT now(),
  completed   integer NOT NULL DEFAULT 0,
  failed      integer NOT NULL DEFAULT 0,
  warning     integer NOT NULL DEFAULT 0,
  last_error  text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  started_at  timestamptz,
  finished_at timestamptz,
  UNIQUE (study_uid, generation, series_uid)
);
CREATE INDEX move_jobs_queue_idx ON move_jobs (status, priority DESC, exam_time);

CREATE TABLE dispatches (
  id           bigserial PRIMARY KEY,
  study_uid    text NOT NULL REFERENCES studies ON DELETE CASCADE,
  generation   integer NOT NULL,
  series_uids  text[] NOT NULL,
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sent','failed')),
  reason       text NOT NULL DEFAULT '',
  ai_node      text NOT NULL DEFAULT '',
  instances    integer NOT NULL DEFAULT 0,
  attempts     integer NOT NULL DEFAULT 0,
  last_error   text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now(),
  sent_at      timestamptz,
  UNIQUE (study_uid, generation)
);

-- Which instances of a dispatch reached the AI node: a dispatcher restarted mid-send
-- resends only what is missing.
CREATE TABLE dispatch_instances (
  dispatch_id  bigint NOT NULL REFERENCES dispatches ON DELETE CASCADE,
  sop_uid      text NOT NULL,
  sent_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dispatch_id, sop_uid)
);

-- The event trail: every decision with its reason ("why is this exam not ours?").
CREATE TABLE events (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  study_uid   text,
  series_uid  text,
  service     text NOT NULL,
  kind        text NOT NULL,
  detail      text NOT NULL,
  attrs       jsonb
);
CREATE INDEX events_study_idx ON events (study_uid, at);

-- Messages a consumer could not handle: parked for an operator, never dropped.
CREATE TABLE parked_messages (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  service    text NOT NULL,
  subject    text NOT NULL,
  payload    bytea NOT NULL,
  reason     text NOT NULL
);
