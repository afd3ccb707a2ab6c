-- The system of record: tasks keyed by the CR uid, one row per text, the transition log, and
-- worker heartbeats.
-- depends:

CREATE TABLE tasks (
    id uuid PRIMARY KEY,                         -- the DetectionTask's metadata.uid
    namespace text NOT NULL,
    name text NOT NULL,
    generation bigint NOT NULL DEFAULT 1,        -- metadata.generation at admission (observedGeneration)
    detector text NOT NULL,                      -- the resolved profile
    granularity text NOT NULL CHECK (granularity IN ('document', 'sentence')),
    priority smallint NOT NULL CHECK (priority BETWEEN 0 AND 9),
    backoff_limit integer NOT NULL CHECK (backoff_limit >= 0),
    active_deadline_seconds bigint,
    ttl_seconds_after_finished bigint,
    phase text NOT NULL CHECK (phase IN ('Pending', 'Queued', 'Running', 'Succeeded', 'Failed', 'Cancelled')),
    reason text,
    message text,
    attempts integer NOT NULL DEFAULT 0,
    total_items integer NOT NULL CHECK (total_items >= 0),
    done_items integer NOT NULL DEFAULT 0,
    failed_items integer NOT NULL DEFAULT 0,
    result jsonb,
    worker text,
    created_at timestamptz NOT NULL,             -- the CR's creationTimestamp (deadlines count from it)
    recorded_at timestamptz NOT NULL DEFAULT now(),
    queued_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    progressed_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1,          -- bumped on every change the CR status shows
    cr_version integer NOT NULL DEFAULT 0,       -- the version last written to the CR status
    cr_deleted_at timestamptz                    -- the CR is gone (TTL or delete); the row stays
);
CREATE INDEX tasks_phase_idx ON tasks (phase) WHERE phase IN ('Pending', 'Queued', 'Running');
CREATE INDEX tasks_unsynced_idx ON tasks (id) WHERE cr_version < version AND cr_deleted_at IS NULL;
CREATE INDEX tasks_list_idx ON tasks (created_at DESC, id DESC);

CREATE TABLE task_items (
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    idx integer NOT NULL,
    text text NOT NULL,
    text_sha256 text NOT NULL,
    score double precision,
    label text CHECK (label IN ('ai', 'human')),
    probability double precision,
    threshold double precision,
    model_version text,
    detail jsonb,                                -- chunks, cached, per-sentence scores
    worker text,
    scored_at timestamptz,                       -- NULL until the one result is written
    PRIMARY KEY (task_id, idx)
);

CREATE TABLE task_transitions (
    id bigserial PRIMARY KEY,
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    from_phase text,
    to_phase text NOT NULL,
    reason text NOT NULL,
    message text NOT NULL DEFAULT '',
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX task_transitions_task_idx ON task_transitions (task_id, id);

CREATE TABLE worker_heartbeats (
    worker text PRIMARY KEY,
    node text NOT NULL DEFAULT '',
    detectors text[] NOT NULL DEFAULT '{}',
    model_version text NOT NULL DEFAULT '',
    device text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    last_batch_seconds double precision,
    last_batch_size integer,
    queue_depth integer
);
