-- The event log: append-only, globally ordered, hash-chained.
CREATE TABLE events (
    global_seq     BIGINT      PRIMARY KEY CHECK (global_seq >= 1),
    event_id       UUID        NOT NULL UNIQUE,
    stream_type    TEXT        NOT NULL,
    stream_id      UUID        NOT NULL,
    stream_version BIGINT      NOT NULL CHECK (stream_version >= 1),
    account_id     UUID,
    event_type     TEXT        NOT NULL,
    payload        JSONB       NOT NULL,
    metadata       JSONB       NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    prev_hash      BYTEA       NOT NULL,
    hash           BYTEA       NOT NULL,
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_account_seq ON events (account_id, global_seq);
CREATE INDEX events_hash ON events (hash);

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- One row: the last sequence number and hash. Locking it serialises appends,
-- which keeps global_seq gap-free and the chain linear.
CREATE TABLE event_log_head (
    id        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    last_seq  BIGINT  NOT NULL,
    last_hash BYTEA   NOT NULL
);
INSERT INTO event_log_head (id, last_seq, last_hash)
VALUES (TRUE, 0, decode(repeat('00', 32), 'hex'));

-- Transactional outbox: how far each relay has published.
CREATE TABLE relay_cursors (
    name       TEXT        PRIMARY KEY,
    last_seq   BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Idempotent consumers: an event whose effects were recorded by a consumer.
CREATE TABLE processed_events (
    consumer     TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Projections (rebuilt by `sluice replay`).
CREATE TABLE probes (
    probe_id     UUID        PRIMARY KEY,
    status       TEXT        NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    completed_by TEXT
);

CREATE TABLE dead_letters (
    event_id         UUID        PRIMARY KEY,
    event_type       TEXT        NOT NULL,
    queue            TEXT        NOT NULL,
    reason           TEXT        NOT NULL,
    delivery_count   BIGINT      NOT NULL,
    dead_lettered_at TIMESTAMPTZ NOT NULL
);
