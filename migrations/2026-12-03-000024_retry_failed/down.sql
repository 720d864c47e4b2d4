ALTER TABLE jobs DROP COLUMN retry_failed;
