-- Durable jobs and multi-step workflows. Times used for scheduling are Unix milliseconds.
CREATE TABLE workflows (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    step_count   INTEGER NOT NULL,
    next_step    INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    owner_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    course_id    INTEGER,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;

-- One row per finished step: written in the same transaction that moves `next_step` on.
CREATE TABLE workflow_steps (
    workflow_id INTEGER NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    step        INTEGER NOT NULL,
    name        TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (workflow_id, step)
) STRICT;

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    queue        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    lease_until  INTEGER,
    dedup_key    TEXT,
    last_error   TEXT,
    workflow_id  INTEGER REFERENCES workflows (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    finished_ms  INTEGER
) STRICT;
CREATE INDEX jobs_ready ON jobs (queue, state, run_at);
CREATE INDEX jobs_state ON jobs (state, finished_ms);
CREATE UNIQUE INDEX jobs_dedup ON jobs (kind, dedup_key)
    WHERE dedup_key IS NOT NULL AND state IN ('queued', 'running');

-- Every failed attempt, with its error chain.
CREATE TABLE job_errors (
    job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    error   TEXT NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt)
) STRICT;

-- Marks left by the `jobs selftest` workflow and jobs, so a check can count how often each ran.
CREATE TABLE diag_marks (
    id     INTEGER PRIMARY KEY,
    kind   TEXT NOT NULL,
    ref    INTEGER NOT NULL,
    step   INTEGER,
    at     TEXT NOT NULL
) STRICT;

-- The transactional outbox: an event row commits with the change that caused it, together with one
-- delivery job per subscriber. A delivery is recorded in the transaction of its effect, so a redelivered
-- event has no second effect.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX events_kind ON events (kind, id);

CREATE TABLE event_deliveries (
    event_id     INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    subscriber   TEXT NOT NULL,
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (event_id, subscriber)
) STRICT;

-- Counts of events per UTC day, kept by the analytics subscriber.
CREATE TABLE analytics_daily (
    day   TEXT NOT NULL,
    kind  TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, kind)
) STRICT;
