ALTER TABLE runs DROP COLUMN api_calls;
