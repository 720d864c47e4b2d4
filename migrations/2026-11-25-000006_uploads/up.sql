-- Uploaded files (projection). The file itself is encrypted on disk under
-- SLUICE_STORAGE; `details` holds the file name, columns and sheets sealed
-- under the account's subject key (they can name people or say what the
-- data is), so only what describes the file's shape is in clear.
CREATE TABLE uploads (
    upload_id      UUID        PRIMARY KEY,
    account_id     UUID        NOT NULL,
    user_id        UUID        NOT NULL,
    format         TEXT        NOT NULL,
    size_bytes     BIGINT      NOT NULL,
    details        TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    -- Set when the file and its key were destroyed: `deleted` or `expired`.
    removed_at     TIMESTAMPTZ,
    removed_reason TEXT
);
CREATE INDEX uploads_account ON uploads (account_id, created_at);
CREATE INDEX uploads_live_expiry ON uploads (expires_at) WHERE removed_at IS NULL;

-- Each upload's data key, wrapped by the keyring. Deleting the row destroys
-- the file even where its disk blocks survive.
CREATE TABLE upload_keys (
    upload_id   UUID    PRIMARY KEY,
    account_id  UUID    NOT NULL,
    kek_version INTEGER NOT NULL,
    wrapped_key BYTEA   NOT NULL
);
CREATE INDEX upload_keys_version ON upload_keys (kek_version);
