-- A trial run (its sample's size and order), the rest of a trial, and a
-- retry of a run's failed rows, from run.requested (runs requested before
-- these existed have none).
ALTER TABLE runs ADD COLUMN sample_rows INTEGER;
ALTER TABLE runs ADD COLUMN sample_order TEXT;
ALTER TABLE runs ADD COLUMN remaining_of UUID;
ALTER TABLE runs ADD COLUMN retry_of UUID;
