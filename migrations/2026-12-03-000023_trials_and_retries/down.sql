ALTER TABLE runs DROP COLUMN retry_of;
ALTER TABLE runs DROP COLUMN remaining_of;
ALTER TABLE runs DROP COLUMN sample_order;
ALTER TABLE runs DROP COLUMN sample_rows;
