-- OAuth 2.0 flows in progress: the SHA-256 of the single-use `state` and the
-- PKCE verifier, sealed by the keyring. A row is deleted when its callback
-- arrives, so a state works once.
CREATE TABLE oauth_states (
    state_sha256 BYTEA       PRIMARY KEY,
    provider     TEXT        NOT NULL,
    verifier     BYTEA       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);

-- A user's provider tokens, sealed by the keyring (secrets: never in events).
CREATE TABLE oauth_tokens (
    user_id       UUID        NOT NULL,
    provider      TEXT        NOT NULL,
    account_id    UUID        NOT NULL,
    access_token  BYTEA       NOT NULL,
    refresh_token BYTEA,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, provider)
);
