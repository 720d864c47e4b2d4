DROP TABLE upload_keys;
DROP TABLE uploads;
