-- Organisers: the people who run causes, and their server-side sessions.
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
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,                  -- SHA-256 of the cookie's random token, hex
    organiser_id INTEGER   NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX sessions_organiser ON sessions (organiser_id);

-- Links mailed to organisers to prove they own their address.
CREATE TABLE organiser_email_tokens (
    token_hash   TEXT PRIMARY KEY,
    organiser_id INTEGER   NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX organiser_email_tokens_organiser ON organiser_email_tokens (organiser_id);
