-- A job whose schedule is paused: its slots pass without a run.
ALTER TABLE jobs ADD COLUMN schedule_paused BOOLEAN NOT NULL DEFAULT FALSE;
