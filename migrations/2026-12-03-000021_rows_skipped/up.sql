-- Rows a job's filter set aside, from run.progressed and run.finished
-- (events recorded before the filter have none).
ALTER TABLE runs ADD COLUMN rows_skipped BIGINT NOT NULL DEFAULT 0;
