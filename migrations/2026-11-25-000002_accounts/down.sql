DROP TABLE login_throttle;
DROP TABLE token_hashes;
DROP TABLE password_hashes;
DROP TABLE subject_keys;
DROP TABLE tokens;
DROP TABLE users;
DROP TABLE accounts;
