ALTER TABLE runs DROP COLUMN rows_skipped;
