ALTER TABLE connections DROP COLUMN details;
ALTER TABLE jobs DROP COLUMN details;
