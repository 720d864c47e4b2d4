ALTER TABLE jobs DROP COLUMN schedule_paused;
