-- When an account was erased: its people, connections, uploads, jobs and
-- runs are gone from the projections, its secrets and subject key
-- destroyed; the row stays, without its company, so the account's events
-- still name an account that existed.
ALTER TABLE accounts ADD COLUMN erased_at TIMESTAMPTZ;
