-- An Enterprise account's result retention: days its runs' result files
-- (and the journals rollbacks read) are kept, instead of the deployment's
-- SLUICE_RESULT_TTL; or none kept at all.
ALTER TABLE accounts
    ADD COLUMN result_retention_days INT,
    ADD COLUMN store_results         BOOLEAN NOT NULL DEFAULT TRUE;
