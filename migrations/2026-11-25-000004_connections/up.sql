-- Connections to the teams' own systems (projection). `params` holds what is
-- not secret (host, port, database, user, TLS mode); secrets live below.
CREATE TABLE connections (
    connection_id UUID        PRIMARY KEY,
    account_id    UUID        NOT NULL,
    name          TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    params        JSONB       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX connections_account ON connections (account_id, created_at);

-- A connection's secret (a password), sealed by the keyring.
CREATE TABLE connection_secrets (
    connection_id UUID  PRIMARY KEY,
    account_id    UUID  NOT NULL,
    secret        BYTEA NOT NULL
);
