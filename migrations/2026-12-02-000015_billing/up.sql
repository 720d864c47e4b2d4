-- An account's billing at Stripe, as the log tells it: its customer, its
-- subscription's state, and the card summary (sealed under the account's
-- subject key: brand, last 4, expiry month and year, nothing more).
-- `*_at` columns hold the time of the Stripe event that set them, so that a
-- webhook delivered late does not undo a newer one.
CREATE TABLE billing (
    account_id          UUID PRIMARY KEY,
    customer_id         TEXT NOT NULL UNIQUE,
    subscription_id     TEXT,
    subscription_status TEXT,
    subscription_at     TIMESTAMPTZ,
    card                TEXT,
    card_at             TIMESTAMPTZ,
    payment_failed_at   TIMESTAMPTZ
);
