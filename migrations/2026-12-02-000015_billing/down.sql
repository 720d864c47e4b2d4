DROP TABLE billing;
