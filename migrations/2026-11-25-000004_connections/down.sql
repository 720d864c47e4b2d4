DROP TABLE connection_secrets;
DROP TABLE connections;
