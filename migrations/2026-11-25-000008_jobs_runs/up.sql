-- Import jobs (projection): where rows come from, where they go, how they
-- are mapped. Column names and transforms are configuration, not data.
CREATE TABLE jobs (
    job_id     UUID        PRIMARY KEY,
    account_id UUID        NOT NULL,
    name       TEXT        NOT NULL,
    source     JSONB       NOT NULL,
    target     JSONB       NOT NULL,
    operation  TEXT        NOT NULL,
    key_fields JSONB       NOT NULL,
    mapping    JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE INDEX jobs_account ON jobs (account_id, created_at);

-- Runs of jobs (projection), with their progress.
CREATE TABLE runs (
    run_id       UUID        PRIMARY KEY,
    account_id   UUID        NOT NULL,
    job_id       UUID        NOT NULL,
    kind         TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    rows_read    BIGINT      NOT NULL DEFAULT 0,
    rows_ok      BIGINT      NOT NULL DEFAULT 0,
    rows_failed  BIGINT      NOT NULL DEFAULT 0,
    rows_total   BIGINT,
    message      TEXT,
    requested_at TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    worker       TEXT
);
CREATE INDEX runs_job ON runs (job_id, requested_at);
CREATE INDEX runs_account ON runs (account_id, requested_at);
