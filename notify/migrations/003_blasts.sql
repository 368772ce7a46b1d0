-- Blasts: an organiser's email to a cause's supporters, one delivery row per
-- recipient, the addresses that asked for no more mail, and the clicks.
--
-- A blast's messages go through the outbox like every mail, as bulk: a
-- delivery row is moved into the outbox (state 'sending') a few thousand at
-- a time while the blast sends, in the same transaction as its outbox row,
-- and the worker writes the outcome to both (see notify's package comment).
CREATE TABLE blasts (
    id            INTEGER PRIMARY KEY,
    cause_id      INTEGER   NOT NULL,              -- campaigns' cause
    organiser_id  INTEGER   NOT NULL,              -- who wrote it; who sent it, once sent
    status        TEXT      NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'cancelled', 'sent')),
    subject       TEXT      NOT NULL,
    body_md       TEXT      NOT NULL,
    cta_label     TEXT      NOT NULL,
    cta_url       TEXT      NOT NULL,
    subject_fr    TEXT      NOT NULL DEFAULT '',
    body_fr       TEXT      NOT NULL DEFAULT '',
    cta_label_fr  TEXT      NOT NULL DEFAULT '',
    countries     TEXT      NOT NULL DEFAULT '',   -- ISO codes, comma-separated; '' = everyone
    track_opens   INTEGER   NOT NULL DEFAULT 0,
    -- Fixed when the blast is saved or sent: what the mails say and where
    -- their links may lead (a JSON array: the cause, the call to action,
    -- then the body's links).
    cause_title   TEXT      NOT NULL DEFAULT '',
    cause_url     TEXT      NOT NULL DEFAULT '',
    links         TEXT      NOT NULL DEFAULT '[]',
    from_name     TEXT      NOT NULL DEFAULT '',
    reply_to      TEXT      NOT NULL DEFAULT '',
    send_at       TIMESTAMP,                       -- UTC
    tz            TEXT      NOT NULL DEFAULT '',   -- the zone send_at was typed in
    audience_size INTEGER   NOT NULL DEFAULT 0,    -- recipients counted when it was sent
    recipients    INTEGER   NOT NULL DEFAULT 0,    -- delivery rows written so far
    audience_done INTEGER   NOT NULL DEFAULT 0,    -- 1 once every recipient has a row
    audience_pos  INTEGER   NOT NULL DEFAULT 0,    -- where the fan-out goes on from
    started_at    TIMESTAMP,
    finished_at   TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX blasts_cause ON blasts (cause_id, id);
CREATE INDEX blasts_organiser ON blasts (organiser_id, started_at);
CREATE INDEX blasts_live ON blasts (status) WHERE status IN ('scheduled', 'sending');

CREATE TABLE blast_deliveries (
    id         INTEGER PRIMARY KEY,
    blast_id   INTEGER   NOT NULL REFERENCES blasts (id) ON DELETE CASCADE,
    -- Who in the audience (campaigns' signature id): one confirmed
    -- signature per address and cause, so one row per person. Written in
    -- the audience's order, the unique index grows at its end, where a
    -- key of the address's hash would put each row on a page of its own.
    recipient  INTEGER   NOT NULL,
    key_hash   TEXT      NOT NULL,                 -- SuppressionKey of the address (HMAC-SHA256, hex)
    email      TEXT      NOT NULL,
    first_name TEXT      NOT NULL DEFAULT '',
    lang       TEXT      NOT NULL DEFAULT 'en',
    country    TEXT      NOT NULL DEFAULT '',
    state      TEXT      NOT NULL DEFAULT 'queued'
               CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'bounced', 'suppressed', 'cancelled')),
    attempts   INTEGER   NOT NULL DEFAULT 0,
    last_reply TEXT      NOT NULL DEFAULT '',      -- the mail server's last answer about it
    sent_at    TIMESTAMP,
    opened_at  TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (blast_id, recipient)
);
-- The fan-out's next rows, and the counts by state.
CREATE INDEX blast_deliveries_state ON blast_deliveries (blast_id, state);

-- Addresses that get no more blasts: from one cause (cause_id), or from any
-- (cause_id 0). Keyed by the hash of the comparison key, so the list keeps
-- no address and holds after a person's data is deleted.
CREATE TABLE suppressions (
    key_hash   TEXT      NOT NULL,
    cause_id   INTEGER   NOT NULL DEFAULT 0,
    reason     TEXT      NOT NULL CHECK (reason IN ('unsubscribe', 'bounce', 'request')),
    blast_id   INTEGER,                            -- the blast whose link or bounce did it
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (key_hash, cause_id)
);
CREATE INDEX suppressions_blast ON suppressions (blast_id) WHERE blast_id IS NOT NULL;

CREATE TABLE blast_clicks (
    id          INTEGER PRIMARY KEY,
    blast_id    INTEGER   NOT NULL REFERENCES blasts (id) ON DELETE CASCADE,
    delivery_id INTEGER   NOT NULL,
    link        INTEGER   NOT NULL,                -- index into blasts.links
    scanner     INTEGER   NOT NULL DEFAULT 0,      -- looks like a mail scanner, not a person
    reason      TEXT      NOT NULL DEFAULT '',     -- why: head, agent, early, burst, trap
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX blast_clicks_blast ON blast_clicks (blast_id, delivery_id);

-- How many recipients an organiser may send blasts to in a day, where an
-- admin raised (or lowered) the default.
CREATE TABLE blast_caps (
    organiser_id INTEGER PRIMARY KEY,
    daily_cap    INTEGER   NOT NULL CHECK (daily_cap >= 0),
    updated_at   TIMESTAMP NOT NULL
);
