-- A database as the migration runner of cmd/rally/db.go left it, before the
-- runner moved to cmd/rally/database: `rally migrate`, `rally serve --demo`
-- and one signing, then `sqlite3 rally.db .dump`. TestMigrateKeepsAnOldRunnersDatabase
-- checks the runner takes it as it is.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_migrations (
		package TEXT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL, PRIMARY KEY (package, name));
INSERT INTO schema_migrations VALUES('campaigns','001_organisers.sql','2026-12-02 05:07:04.415507129+00:00');
INSERT INTO schema_migrations VALUES('campaigns','002_causes.sql','2026-12-02 05:07:04.418110544+00:00');
INSERT INTO schema_migrations VALUES('campaigns','003_signatures_keep_their_email.sql','2026-12-02 05:07:04.420241408+00:00');
INSERT INTO schema_migrations VALUES('campaigns','004_signing_appends_only.sql','2026-12-02 05:07:04.422140558+00:00');
INSERT INTO schema_migrations VALUES('campaigns','005_account_security.sql','2026-12-02 05:07:04.427263223+00:00');
INSERT INTO schema_migrations VALUES('campaigns','006_email_keys_and_image_owners.sql','2026-12-02 05:07:04.43024486+00:00');
INSERT INTO schema_migrations VALUES('notify','001_outbox.sql','2026-12-02 05:07:04.431347778+00:00');
INSERT INTO schema_migrations VALUES('notify','002_outbox_sent.sql','2026-12-02 05:07:04.432184079+00:00');
INSERT INTO schema_migrations VALUES('donations','001_donations.sql','2026-12-02 05:07:04.433919305+00:00');
CREATE TABLE organisers (
    id                 INTEGER PRIMARY KEY,
    name               TEXT      NOT NULL,
    email              TEXT      NOT NULL,          -- as typed, domain lower-cased
    email_key          TEXT      NOT NULL UNIQUE,   -- comparison key (see EmailKey)
    password_hash      TEXT      NOT NULL,          -- argon2id, PHC string format
    is_admin           INTEGER   NOT NULL DEFAULT 0,
    email_confirmed_at TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
, signup_notice_at TIMESTAMP);
INSERT INTO organisers VALUES(1,'Camille Martin','demo@rally.localhost','demo@rally.localhost','$argon2id$v=19$m=19456,t=2,p=1$Twn/vTsJ2pXwpNdqbz3nEw$KVPT66eyxh4zYlrbARExNZ6Nhi+h6yG8vIC0s9NGguw',0,'2026-12-02 05:07:05.013795317+00:00','2026-12-02 05:07:05.013795317+00:00','2026-12-02 05:07:05.013795317+00:00',NULL);
CREATE TABLE organiser_email_tokens (
    token_hash   TEXT PRIMARY KEY,
    organiser_id INTEGER   NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE TABLE causes (
    id           INTEGER PRIMARY KEY,
    organiser_id INTEGER   NOT NULL REFERENCES organisers (id),
    slug         TEXT      NOT NULL UNIQUE,
    title        TEXT      NOT NULL,
    summary      TEXT      NOT NULL DEFAULT '',
    body_md      TEXT      NOT NULL DEFAULT '',
    target       TEXT      NOT NULL DEFAULT '',
    goal         INTEGER   NOT NULL DEFAULT 100,
    ends_at      TIMESTAMP,
    image        TEXT      NOT NULL DEFAULT '',     -- file name under RALLY_DATA/uploads
    image_alt    TEXT      NOT NULL DEFAULT '',
    lang         TEXT      NOT NULL DEFAULT 'en',
    status       TEXT      NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'closed', 'victory')),
    signature_count INTEGER NOT NULL DEFAULT 0,     -- confirmed signatures; written once per batch
    published_at TIMESTAMP,
    closed_at    TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
INSERT INTO causes VALUES(1,1,'safe-streets-around-our-schools','Safe streets around our schools','Close the Rue des Tilleuls to through traffic at school times, so two thousand children can walk to school in clean air.',replace('Every morning, two thousand children walk to the four schools along the Rue des Tilleuls,\nbreathing the exhaust of the cars queuing beside them.\n\n## What we ask\n\n- Close the street to through traffic from **8:00 to 9:00** and **16:00 to 17:00** on school days.\n- Keep access for residents, deliveries and emergency vehicles.\n- Measure the air before and after, and publish the figures.\n\nCities like [Paris](https://www.paris.fr/) and London have done it, and the air around their schools\nmeasurably improved within months. Our children deserve the same.','\n',char(10)),'The Mayor and City Council',500,'2027-03-02 05:07:05.015879421+00:00','','','en','published',0,'2026-12-02 05:07:05.017321762+00:00',NULL,'2026-12-02 05:07:05.016590306+00:00','2026-12-02 05:07:05.017321762+00:00');
CREATE TABLE supporters (
    id         INTEGER PRIMARY KEY,
    email      TEXT      NOT NULL,                  -- as typed, domain lower-cased: what mail goes to
    email_key  TEXT      NOT NULL UNIQUE,           -- comparison key (see EmailKey)
    name       TEXT      NOT NULL,
    country    TEXT      NOT NULL DEFAULT '',
    postcode   TEXT      NOT NULL DEFAULT '',
    lang       TEXT      NOT NULL DEFAULT 'en',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "signatures" (
    -- Assigned by Rally, growing with time (see NewSignatureToken): the id is
    -- also the selector of the confirmation link's token.
    id             INTEGER PRIMARY KEY,
    cause_id       INTEGER   NOT NULL REFERENCES causes (id) ON DELETE CASCADE,
    supporter_id   INTEGER   REFERENCES supporters (id), -- set at confirmation
    email          TEXT      NOT NULL,              -- as typed, domain lower-cased: what mail goes to
    email_key      TEXT      NOT NULL,              -- comparison key (see EmailKey)
    name           TEXT      NOT NULL,              -- as typed at signing
    country        TEXT      NOT NULL DEFAULT '',
    postcode       TEXT      NOT NULL DEFAULT '',
    comment        TEXT      NOT NULL DEFAULT '',
    is_public      INTEGER   NOT NULL DEFAULT 0,
    consent_updates INTEGER  NOT NULL DEFAULT 0,
    ref            TEXT      NOT NULL DEFAULT '',   -- referral code it came through
    lang           TEXT      NOT NULL DEFAULT 'en',
    token_hash     TEXT      NOT NULL,              -- SHA-256 of the whole token, hex
    token_expires_at TIMESTAMP NOT NULL,
    confirmed_at   TIMESTAMP,
    created_at     TIMESTAMP NOT NULL
);
INSERT INTO signatures VALUES(1796188025033409477,1,NULL,'ada@example.org','ada@example.org','Ada','FR','','',0,0,'','en','cc91b7923b7f3505691ee2dd0681f011227a905be3b48d80f737e202ded47486','2026-12-16 05:07:05.034438385+00:00',NULL,'2026-12-02 05:07:05.034438385+00:00');
CREATE TABLE IF NOT EXISTS "sessions" (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT      NOT NULL UNIQUE,         -- SHA-256 of the cookie's random token, hex
    organiser_id INTEGER   NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,                -- refreshed at most every few minutes
    user_agent   TEXT      NOT NULL DEFAULT '',     -- as the browser sent it, cut to 256 bytes
    ip_prefix    TEXT      NOT NULL DEFAULT ''      -- IPv4 /24 or IPv6 /48, e.g. 203.0.113.0/24
);
CREATE TABLE organiser_signups (
    token_hash    TEXT PRIMARY KEY,                 -- SHA-256 of the link's token, hex
    name          TEXT      NOT NULL,
    email         TEXT      NOT NULL,               -- as typed, domain lower-cased
    email_key     TEXT      NOT NULL,               -- comparison key (see EmailKey)
    password_hash TEXT      NOT NULL,               -- argon2id, PHC string format; '' once used
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    used_at       TIMESTAMP
);
CREATE TABLE organiser_link_tokens (
    token_hash   TEXT PRIMARY KEY,                  -- SHA-256 of the link's token, hex
    organiser_id INTEGER   NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    kind         TEXT      NOT NULL CHECK (kind IN ('login', 'reset')),
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    used_at      TIMESTAMP
);
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    priority        INTEGER   NOT NULL DEFAULT 0,   -- 0 transactional, 1 bulk: lower goes first
    kind            TEXT      NOT NULL DEFAULT '',  -- what the mail is, for logs and metrics
    message_id      TEXT      NOT NULL,             -- the Message-ID header, fixed at enqueue so retries keep it;
                                                    -- random, so unique without an index (which would cost a
                                                    -- random page write per mail)
    to_addr         TEXT      NOT NULL,
    to_name         TEXT      NOT NULL DEFAULT '',
    lang            TEXT      NOT NULL DEFAULT 'en',
    subject         TEXT      NOT NULL DEFAULT '',
    text_body       TEXT      NOT NULL DEFAULT '',
    html_body       TEXT      NOT NULL DEFAULT '',
    -- A mail queued by reference: the worker renders this template with
    -- this JSON data when it sends, instead of the rendered parts above.
    -- Signing queues thousands of mails a second; a 4 KB rendered mail per
    -- signing would be most of what the database writes.
    template        TEXT      NOT NULL DEFAULT '',
    data            TEXT      NOT NULL DEFAULT '',
    headers         TEXT      NOT NULL DEFAULT '{}', -- JSON object of extra headers
    status          TEXT      NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER   NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    leased_until    TIMESTAMP,
    last_error      TEXT      NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
INSERT INTO outbox VALUES(1,0,'signature_confirm','1796188025034438385.e5c6de2dad26015caf9dbcad@localhost','ada@example.org','Ada','en','','','','signature_confirm','{"Name":"Ada","CauseTitle":"Safe streets around our schools","Target":"The Mayor and City Council","CauseURL":"http://localhost:8080/c/safe-streets-around-our-schools","ConfirmURL":"http://localhost:8080/confirm/18ed577dfded43c5wJYqI88JWF4El0ta17ei8OU3ce7l39Ow"}','{}','queued',0,'2026-12-02 05:07:05.034438385+00:00',NULL,'','2026-12-02 05:07:05.034438385+00:00',NULL);
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
CREATE TABLE donation_refunds (
    charge_id             TEXT      PRIMARY KEY,
    payment_intent_id     TEXT      NOT NULL DEFAULT '',
    invoice_id            TEXT      NOT NULL DEFAULT '',
    amount_refunded_minor INTEGER   NOT NULL CHECK (amount_refunded_minor >= 0),
    currency              TEXT      NOT NULL,
    updated_at            TIMESTAMP NOT NULL
);
CREATE TABLE stripe_events (
    id          TEXT      PRIMARY KEY,
    type        TEXT      NOT NULL,
    api_version TEXT      NOT NULL DEFAULT '',
    received_at TIMESTAMP NOT NULL
);
CREATE TABLE donation_goals (
    cause_id   INTEGER   PRIMARY KEY REFERENCES causes (id) ON DELETE CASCADE,
    goal_minor INTEGER   NOT NULL CHECK (goal_minor > 0),
    currency   TEXT      NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE donation_cancel_tokens (
    token_hash  TEXT      PRIMARY KEY,              -- SHA-256 of the token, hex
    donation_id INTEGER   NOT NULL REFERENCES donations (id) ON DELETE CASCADE,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX organiser_email_tokens_organiser ON organiser_email_tokens (organiser_id);
CREATE INDEX causes_organiser ON causes (organiser_id);
CREATE INDEX causes_published ON causes (status, published_at);
CREATE INDEX signatures_cause ON signatures (cause_id);
CREATE UNIQUE INDEX signatures_confirmed_key ON signatures (cause_id, email_key) WHERE confirmed_at IS NOT NULL;
CREATE INDEX signatures_cause_confirmed ON signatures (cause_id, confirmed_at) WHERE confirmed_at IS NOT NULL;
CREATE INDEX signatures_supporter ON signatures (supporter_id) WHERE supporter_id IS NOT NULL;
CREATE INDEX sessions_organiser ON sessions (organiser_id);
CREATE INDEX organiser_signups_email_key ON organiser_signups (email_key, created_at);
CREATE INDEX organiser_link_tokens_organiser ON organiser_link_tokens (organiser_id, kind, created_at);
CREATE INDEX causes_image ON causes (image);
CREATE INDEX outbox_due ON outbox (status, priority, next_attempt_at);
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE status = 'sent';
CREATE INDEX donations_cause ON donations (cause_id, created_at);
CREATE INDEX donations_subscription ON donations (subscription_id) WHERE subscription_id <> '';
CREATE INDEX donation_payments_cause ON donation_payments (cause_id, paid_at);
CREATE INDEX donation_payments_intent ON donation_payments (payment_intent_id) WHERE payment_intent_id <> '';
CREATE INDEX donation_payments_subscription ON donation_payments (subscription_id) WHERE subscription_id <> '';
CREATE INDEX donation_payments_receipt_due ON donation_payments (receipt_queued_at) WHERE receipt_queued_at IS NULL;
CREATE INDEX donation_refunds_intent ON donation_refunds (payment_intent_id) WHERE payment_intent_id <> '';
CREATE INDEX donation_refunds_invoice ON donation_refunds (invoice_id) WHERE invoice_id <> '';
CREATE INDEX donation_cancel_tokens_donation ON donation_cancel_tokens (donation_id);
COMMIT;
