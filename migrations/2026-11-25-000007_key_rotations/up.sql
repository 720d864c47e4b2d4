-- Key rotations and their progress (projection).
CREATE TABLE key_rotations (
    rotation_id  UUID        PRIMARY KEY,
    primary_key  INTEGER     NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    -- Rows rewrapped so far, by table.
    progress     JSONB       NOT NULL DEFAULT '{}',
    finished_at  TIMESTAMPTZ,
    finished_by  TEXT
);
