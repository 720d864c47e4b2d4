-- Calls a run made to its target's API, for targets that count them
-- against a daily limit (Salesforce); none for PostgreSQL targets.
ALTER TABLE runs ADD COLUMN api_calls BIGINT;
