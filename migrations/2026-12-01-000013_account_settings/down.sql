ALTER TABLE accounts DROP COLUMN result_retention_days, DROP COLUMN store_results;
