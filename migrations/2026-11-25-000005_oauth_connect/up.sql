-- A state may also start connecting a system to an account: it then names
-- the account and user who started it and the connection's name.
ALTER TABLE oauth_states
    ADD COLUMN purpose    TEXT NOT NULL DEFAULT 'login',
    ADD COLUMN account_id UUID,
    ADD COLUMN user_id    UUID,
    ADD COLUMN label      TEXT;
