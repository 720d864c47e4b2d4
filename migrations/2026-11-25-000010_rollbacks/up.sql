-- A rollback is a run of its own (kind `rollback`) that undoes another:
-- each names the other.
ALTER TABLE runs
    ADD COLUMN rollback_of    UUID,
    ADD COLUMN rolled_back_by UUID;
