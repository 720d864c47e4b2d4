-- A run's result files (success.csv, errors.csv) are encrypted under a data
-- key of the run's own, wrapped by the keyring. Deleting it destroys them.
CREATE TABLE result_keys (
    run_id      UUID    PRIMARY KEY,
    account_id  UUID    NOT NULL,
    kek_version INTEGER NOT NULL,
    wrapped_key BYTEA   NOT NULL
);
CREATE INDEX result_keys_version ON result_keys (kek_version);

ALTER TABLE runs
    ADD COLUMN results_expire_at  TIMESTAMPTZ,
    ADD COLUMN results_removed_at TIMESTAMPTZ;
CREATE INDEX runs_results_expiry ON runs (results_expire_at)
    WHERE results_expire_at IS NOT NULL AND results_removed_at IS NULL;
