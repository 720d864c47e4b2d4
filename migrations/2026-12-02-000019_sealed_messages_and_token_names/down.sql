ALTER TABLE tokens DROP COLUMN sealed_name;
ALTER TABLE runs DROP COLUMN sealed_message;
