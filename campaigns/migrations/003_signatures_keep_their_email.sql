-- A signature keeps the address it was signed with, and the supporter row
-- is made when the signature is confirmed, not when it is signed. Signing is
-- the path that takes thousands of writes a second; this takes a table and
-- a randomly keyed index off it, and an address that never confirms no
-- longer becomes a supporter.
--
-- One signature per person per cause is now UNIQUE (cause_id, email_key).
-- Signatures made before this migration keep their supporter, confirmed or
-- not.
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
    created_at     TIMESTAMP NOT NULL,
    UNIQUE (cause_id, email_key)
);
INSERT INTO signatures_next (id, cause_id, supporter_id, email, email_key, name, country, postcode, comment, is_public,
    consent_updates, ref, lang, token_hash, token_expires_at, confirmed_at, created_at)
SELECT s.id, s.cause_id, s.supporter_id, p.email, p.email_key, s.name, s.country, s.postcode, s.comment, s.is_public,
    s.consent_updates, s.ref, s.lang, s.token_hash, s.token_expires_at, s.confirmed_at, s.created_at
FROM signatures s JOIN supporters p ON p.id = s.supporter_id;
DROP TABLE signatures;
ALTER TABLE signatures_next RENAME TO signatures;
-- (cause_id, id): the organiser's list pages back through a cause's
-- signatures by id without sorting them.
CREATE INDEX signatures_cause ON signatures (cause_id);
-- Confirmed signatures in the order they were confirmed, for the export and
-- the public list. Partial, so a signing does not write it.
CREATE INDEX signatures_cause_confirmed ON signatures (cause_id, confirmed_at) WHERE confirmed_at IS NOT NULL;
CREATE INDEX signatures_supporter ON signatures (supporter_id) WHERE supporter_id IS NOT NULL;
