ALTER TABLE runs DROP COLUMN rollback_of, DROP COLUMN rolled_back_by;
