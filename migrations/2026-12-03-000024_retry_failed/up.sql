-- A scheduled job that first retries the rows its previous run failed.
ALTER TABLE jobs ADD COLUMN retry_failed BOOLEAN NOT NULL DEFAULT FALSE;
