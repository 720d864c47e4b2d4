ALTER TABLE connections
    DROP COLUMN last_test_reason,
    DROP COLUMN last_test_ok,
    DROP COLUMN last_tested_at;
