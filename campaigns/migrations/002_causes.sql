-- Causes, the people who sign them, and their signatures.
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
CREATE INDEX causes_organiser ON causes (organiser_id);
CREATE INDEX causes_published ON causes (status, published_at);

-- One row per person, found by the comparison key of their email.
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

CREATE TABLE signatures (
    -- Assigned by Rally, growing with time (see NewSignatureToken): the id is
    -- also the selector of the confirmation link's token, so the row is found
    -- by its primary key and the token checked against token_hash in
    -- constant time, with no index on a random key to write per signing.
    id             INTEGER PRIMARY KEY,
    cause_id       INTEGER   NOT NULL REFERENCES causes (id) ON DELETE CASCADE,
    supporter_id   INTEGER   NOT NULL REFERENCES supporters (id),
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
    created_at     TIMESTAMP NOT NULL,
    UNIQUE (cause_id, supporter_id)
);
-- (cause_id, id): the organiser's list pages back through a cause's
-- signatures by id without sorting them.
CREATE INDEX signatures_cause ON signatures (cause_id);
CREATE INDEX signatures_cause_confirmed ON signatures (cause_id, confirmed_at);
