-- Projections of the account streams. Personal data (company, names, email)
-- is stored as written in the events: encrypted under the account's subject key.
CREATE TABLE accounts (
    account_id UUID        PRIMARY KEY,
    region     TEXT        NOT NULL,
    company    TEXT        NOT NULL,
    country    TEXT        NOT NULL,
    plan       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    user_id     UUID        PRIMARY KEY,
    account_id  UUID        NOT NULL,
    email_index BYTEA       NOT NULL UNIQUE,
    email       TEXT        NOT NULL,
    first_name  TEXT        NOT NULL,
    last_name   TEXT        NOT NULL,
    role        TEXT        NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_account ON users (account_id);

-- Sessions and API tokens, without their secrets.
CREATE TABLE tokens (
    token_id   UUID        PRIMARY KEY,
    account_id UUID        NOT NULL,
    user_id    UUID        NOT NULL,
    kind       TEXT        NOT NULL CHECK (kind IN ('session', 'api')),
    name       TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX tokens_user ON tokens (account_id, user_id);

-- Secrets: never in an event, written in the same transaction as the event
-- that needs them.
CREATE TABLE subject_keys (
    account_id  UUID        PRIMARY KEY,
    kek_version INTEGER     NOT NULL,
    wrapped_key BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE password_hashes (
    user_id    UUID        PRIMARY KEY,
    account_id UUID        NOT NULL,
    hash       TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE token_hashes (
    token_id     UUID  PRIMARY KEY,
    account_id   UUID  NOT NULL,
    token_sha256 BYTEA NOT NULL UNIQUE
);

-- Failed-login counters per account and per client address.
CREATE TABLE login_throttle (
    key               TEXT        PRIMARY KEY,
    failures          INTEGER     NOT NULL,
    window_started_at TIMESTAMPTZ NOT NULL,
    blocked_until     TIMESTAMPTZ
);
