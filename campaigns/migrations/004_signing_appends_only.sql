-- One counted signature per person per cause is now a unique index over the
-- confirmed signatures only: UNIQUE (cause_id, email_key) WHERE confirmed_at
-- IS NOT NULL. Signing appends a row and writes no index in address order.
--
-- Under load, the old table-wide UNIQUE (cause_id, email_key) cost more than
-- the rest of a signing's writes: real addresses arrive in no order, so each
-- signing put an entry on its own page of that index, and every commit wrote
-- one page of it per signing in the batch (47 of a commit's 4 KB pages for 24
-- signings at 200,000 signatures, against 15 without it), more as the cause
-- grew. Now the index is written when a signature is confirmed, at the pace
-- people click their links.
--
-- A second signing by someone who has not confirmed yet is a second pending
-- row with its own link; whichever link is used first confirms, and the
-- other then says the signature is already counted. A signing by someone
-- already confirmed is found in the index and gets the "already signed" mail.
CREATE TABLE signatures_next (
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
INSERT INTO signatures_next (id, cause_id, supporter_id, email, email_key, name, country, postcode, comment, is_public,
    consent_updates, ref, lang, token_hash, token_expires_at, confirmed_at, created_at)
SELECT id, cause_id, supporter_id, email, email_key, name, country, postcode, comment, is_public,
    consent_updates, ref, lang, token_hash, token_expires_at, confirmed_at, created_at
FROM signatures;
DROP TABLE signatures;
ALTER TABLE signatures_next RENAME TO signatures;
-- (cause_id, id): the organiser's list pages back through a cause's
-- signatures by id without sorting them, and the pending count counts it.
CREATE INDEX signatures_cause ON signatures (cause_id);
-- One counted signature per person per cause; also how a signing finds that
-- its signer is already counted.
CREATE UNIQUE INDEX signatures_confirmed_key ON signatures (cause_id, email_key) WHERE confirmed_at IS NOT NULL;
-- Confirmed signatures in the order they were confirmed, for the export and
-- the public list. Partial, so a signing does not write it.
CREATE INDEX signatures_cause_confirmed ON signatures (cause_id, confirmed_at) WHERE confirmed_at IS NOT NULL;
CREATE INDEX signatures_supporter ON signatures (supporter_id) WHERE supporter_id IS NOT NULL;
