-- What a customer typed of a job or a connection is sealed under the
-- account's subject key, as one JSON blob (`details`). Rows recorded
-- before keep their clear columns (their events hold them so); rows
-- recorded since have `details` and leave those columns NULL. Ids, the
-- operation, the schedule, the kind and the TLS mode stay in clear.
ALTER TABLE jobs
    ADD COLUMN details TEXT,
    ALTER COLUMN name DROP NOT NULL,
    ALTER COLUMN key_fields DROP NOT NULL,
    ALTER COLUMN mapping DROP NOT NULL;
ALTER TABLE connections
    ADD COLUMN details TEXT,
    ALTER COLUMN name DROP NOT NULL;
