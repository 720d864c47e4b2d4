-- Each connection's last test (`connection.tested`): when, whether it
-- passed, and why not (a reason code). NULL: never tested.
ALTER TABLE connections
    ADD COLUMN last_tested_at   TIMESTAMPTZ,
    ADD COLUMN last_test_ok     BOOLEAN,
    ADD COLUMN last_test_reason TEXT;
