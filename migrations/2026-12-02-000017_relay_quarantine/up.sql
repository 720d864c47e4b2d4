-- Events the relay could not publish (too large for the broker, refused by
-- it again and again, or not encodable), as the log tells it. The relay
-- moves on past them; an operator re-publishes or discards each one
-- (`sluice relay republish|discard SEQ`).
CREATE TABLE relay_quarantine (
    global_seq     BIGINT PRIMARY KEY,
    cursor_name    TEXT NOT NULL,
    event_id       UUID NOT NULL,
    event_type     TEXT NOT NULL,
    reason         TEXT NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL,
    released_at    TIMESTAMPTZ,
    outcome        TEXT
);
