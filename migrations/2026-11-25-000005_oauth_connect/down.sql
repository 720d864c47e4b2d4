ALTER TABLE oauth_states
    DROP COLUMN label,
    DROP COLUMN user_id,
    DROP COLUMN account_id,
    DROP COLUMN purpose;
