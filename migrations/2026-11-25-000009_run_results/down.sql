ALTER TABLE runs DROP COLUMN results_removed_at, DROP COLUMN results_expire_at;
DROP TABLE result_keys;
