-- Donations: one row per Checkout attempt, keyed by Rally's own reference,
-- which travels to Stripe as client_reference_id and metadata[donation].
-- Stripe's session id is kept for reading only: it is not unique (stripe-mock
-- returns the same one for every session).
CREATE TABLE donations (
    id                  INTEGER PRIMARY KEY,
    ref                 TEXT      NOT NULL UNIQUE,
    cause_id            INTEGER   NOT NULL REFERENCES causes (id),
    supporter_id        INTEGER   REFERENCES supporters (id) ON DELETE SET NULL,
    email               TEXT      NOT NULL DEFAULT '',  -- as given on the form, then as given to Stripe
    lang                TEXT      NOT NULL DEFAULT 'en', -- the donor's language, for the receipt
    amount_minor        INTEGER   NOT NULL CHECK (amount_minor > 0),
    currency            TEXT      NOT NULL,
    monthly             INTEGER   NOT NULL DEFAULT 0,
    status              TEXT      NOT NULL DEFAULT 'created' CHECK (status IN
                        ('created', 'open', 'processing', 'paid', 'active', 'failed', 'expired', 'canceled', 'error')),
    checkout_session_id TEXT      NOT NULL DEFAULT '',
    customer_id         TEXT      NOT NULL DEFAULT '',
    subscription_id     TEXT      NOT NULL DEFAULT '',
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    canceled_at         TIMESTAMP
);
CREATE INDEX donations_cause ON donations (cause_id, created_at);
CREATE INDEX donations_subscription ON donations (subscription_id) WHERE subscription_id <> '';

-- The ledger: one row per payment Stripe reports as paid, keyed by Stripe's
-- id for it (the invoice of a monthly gift, the payment intent of a one-off
-- gift), so each payment counts once whatever the order or number of events.
-- donation_id and cause_id stay NULL while a subscription's invoice is paid
-- before its checkout session is reported complete; the completion links it.
CREATE TABLE donation_payments (
    id                INTEGER PRIMARY KEY,
    stripe_id         TEXT      NOT NULL UNIQUE,
    payment_intent_id TEXT      NOT NULL DEFAULT '',
    subscription_id   TEXT      NOT NULL DEFAULT '',
    donation_id       INTEGER   REFERENCES donations (id),
    cause_id          INTEGER   REFERENCES causes (id),
    amount_minor      INTEGER   NOT NULL CHECK (amount_minor > 0),
    currency          TEXT      NOT NULL,
    email             TEXT      NOT NULL DEFAULT '',
    donor_key         TEXT      NOT NULL,                -- who gave, for counting donors
    paid_at           TIMESTAMP NOT NULL,
    receipt_queued_at TIMESTAMP,
    created_at        TIMESTAMP NOT NULL
);
CREATE INDEX donation_payments_cause ON donation_payments (cause_id, paid_at);
CREATE INDEX donation_payments_intent ON donation_payments (payment_intent_id) WHERE payment_intent_id <> '';
CREATE INDEX donation_payments_subscription ON donation_payments (subscription_id) WHERE subscription_id <> '';
CREATE INDEX donation_payments_receipt_due ON donation_payments (receipt_queued_at) WHERE receipt_queued_at IS NULL;

-- Refunds: the cumulative amount refunded per charge, as Stripe last reported
-- it. Set, never added to, so partial-then-full refunds and repeated events
-- add up; a refund that arrives before its payment waits here for it.
CREATE TABLE donation_refunds (
    charge_id             TEXT      PRIMARY KEY,
    payment_intent_id     TEXT      NOT NULL DEFAULT '',
    invoice_id            TEXT      NOT NULL DEFAULT '',
    amount_refunded_minor INTEGER   NOT NULL CHECK (amount_refunded_minor >= 0),
    currency              TEXT      NOT NULL,
    updated_at            TIMESTAMP NOT NULL
);
CREATE INDEX donation_refunds_intent ON donation_refunds (payment_intent_id) WHERE payment_intent_id <> '';
CREATE INDEX donation_refunds_invoice ON donation_refunds (invoice_id) WHERE invoice_id <> '';

-- Every Stripe event processed, inserted in the same transaction as its
-- effects: an event is applied at most once.
CREATE TABLE stripe_events (
    id          TEXT      PRIMARY KEY,
    type        TEXT      NOT NULL,
    api_version TEXT      NOT NULL DEFAULT '',
    received_at TIMESTAMP NOT NULL
);

-- An organiser's optional fundraising goal for a cause.
CREATE TABLE donation_goals (
    cause_id   INTEGER   PRIMARY KEY REFERENCES causes (id) ON DELETE CASCADE,
    goal_minor INTEGER   NOT NULL CHECK (goal_minor > 0),
    currency   TEXT      NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Links in monthly donors' receipts that stop their gift: one per receipt,
-- only the hash of the token is kept.
CREATE TABLE donation_cancel_tokens (
    token_hash  TEXT      PRIMARY KEY,              -- SHA-256 of the token, hex
    donation_id INTEGER   NOT NULL REFERENCES donations (id) ON DELETE CASCADE,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX donation_cancel_tokens_donation ON donation_cancel_tokens (donation_id);
