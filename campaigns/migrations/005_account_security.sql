-- Organiser accounts people can trust: sessions they can see and end, a
-- sign-up that does not tell strangers who has an account, and one-use links
-- to sign in and to choose a new password.

-- Sessions get an id, so the account page can name one to end, and what an
-- organiser needs to recognise one: when it was last used, by which
-- browser, and roughly from where (the client's network, never its whole
-- address).
CREATE TABLE sessions_next (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT      NOT NULL UNIQUE,         -- SHA-256 of the cookie's random token, hex
    organiser_id INTEGER   NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,                -- refreshed at most every few minutes
    user_agent   TEXT      NOT NULL DEFAULT '',     -- as the browser sent it, cut to 256 bytes
    ip_prefix    TEXT      NOT NULL DEFAULT ''      -- IPv4 /24 or IPv6 /48, e.g. 203.0.113.0/24
);
INSERT INTO sessions_next (token_hash, organiser_id, created_at, expires_at, last_seen_at)
SELECT token_hash, organiser_id, created_at, expires_at, created_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_next RENAME TO sessions;
CREATE INDEX sessions_organiser ON sessions (organiser_id);

-- A sign-up waits here until the link mailed to its address is used; only
-- then is the organiser made, already confirmed. The same address may wait
-- more than once (each sign-up has its own link); the first link used wins,
-- and every sign-up of the address is then marked used, its password hash
-- wiped. An address that already has an account never gets a row: its owner
-- gets a mail saying someone tried to sign up, and the screen says the same
-- either way.
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
CREATE INDEX organiser_signups_email_key ON organiser_signups (email_key, created_at);

-- Links mailed on request: 'login' signs in (15 minutes), 'reset' sets a
-- new password (one hour). Each works once: used_at is set when it is used.
CREATE TABLE organiser_link_tokens (
    token_hash   TEXT PRIMARY KEY,                  -- SHA-256 of the link's token, hex
    organiser_id INTEGER   NOT NULL REFERENCES organisers (id) ON DELETE CASCADE,
    kind         TEXT      NOT NULL CHECK (kind IN ('login', 'reset')),
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    used_at      TIMESTAMP
);
CREATE INDEX organiser_link_tokens_organiser ON organiser_link_tokens (organiser_id, kind, created_at);

-- When the owner was last told that someone tried to sign up with their
-- address, so a script cannot fill their inbox.
ALTER TABLE organisers ADD COLUMN signup_notice_at TIMESTAMP;
