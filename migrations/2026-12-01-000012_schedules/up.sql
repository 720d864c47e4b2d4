-- A job's schedule (a cron expression, UTC) and since when it holds: slots
-- before that never fire.
ALTER TABLE jobs
    ADD COLUMN schedule       TEXT,
    ADD COLUMN schedule_since TIMESTAMPTZ;

-- The last slot each schedule fired (a job's, or a system schedule such as
-- the retention sweep), and its stream's version: the next slot is
-- appended at that version, so that of several workers only one fires it.
CREATE TABLE schedules (
    schedule_id UUID        PRIMARY KEY,
    name        TEXT        NOT NULL,
    last_slot   TIMESTAMPTZ NOT NULL,
    fired_at    TIMESTAMPTZ NOT NULL,
    version     BIGINT      NOT NULL
);
