ALTER TABLE accounts DROP COLUMN erased_at;
