DROP TABLE schedules;
ALTER TABLE jobs DROP COLUMN schedule, DROP COLUMN schedule_since;
