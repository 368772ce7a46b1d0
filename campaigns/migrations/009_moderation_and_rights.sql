-- Abuse, moderation and people's rights over their data.

-- A cause an admin hid: the public gets 404, its organiser sees why.
ALTER TABLE causes ADD COLUMN hidden_at TIMESTAMP;
ALTER TABLE causes ADD COLUMN hidden_reason TEXT NOT NULL DEFAULT '';
-- When the signers of a closed cause were anonymised (RALLY_RETENTION_DAYS
-- after it closed); NULL again if it is reopened.
ALTER TABLE causes ADD COLUMN signers_forgotten_at TIMESTAMP;

-- Bulk invalidations: an admin took a cause's signatures out of its count by
-- network, email domain or time range. Undoing one puts them back.
CREATE TABLE invalidations (
    id          INTEGER PRIMARY KEY,
    cause_id    INTEGER   NOT NULL REFERENCES causes (id) ON DELETE CASCADE,
    network     TEXT      NOT NULL DEFAULT '',     -- e.g. 203.0.113.0/24; '' = any
    domain      TEXT      NOT NULL DEFAULT '',     -- e.g. example.net; '' = any
    since       TIMESTAMP,                         -- signed at or after; NULL = any
    until       TIMESTAMP,                         -- signed before; NULL = any
    reason      TEXT      NOT NULL DEFAULT '',
    signatures  INTEGER   NOT NULL DEFAULT 0,      -- how many it took out
    admin_id    INTEGER   NOT NULL REFERENCES organisers (id),
    created_at  TIMESTAMP NOT NULL,
    undone_at   TIMESTAMP,
    undone_by   INTEGER   REFERENCES organisers (id)
);
CREATE INDEX invalidations_cause ON invalidations (cause_id, id);

-- Signatures held for review: a signing over a limit (per client network
-- per cause, per email domain per cause) is written and mailed as any other,
-- but counts only once released. The client's network (IPv4 /24, IPv6 /64,
-- never the address) is kept 30 days for the admins' view of unusual
-- activity. A signature an invalidation took out counts for nothing until
-- the invalidation is undone. An admin can hide a signer's public comment.
-- Each is a column of the signing's own row, written by the same insert; the
-- partial indexes are written only by the few rows they hold.
ALTER TABLE signatures ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signatures ADD COLUMN network TEXT NOT NULL DEFAULT '';
ALTER TABLE signatures ADD COLUMN invalidation_id INTEGER REFERENCES invalidations (id);
ALTER TABLE signatures ADD COLUMN comment_hidden INTEGER NOT NULL DEFAULT 0;
CREATE INDEX signatures_held ON signatures (cause_id) WHERE held = 1;
CREATE INDEX signatures_invalidation ON signatures (invalidation_id) WHERE invalidation_id IS NOT NULL;

-- What an admin trusts for a cause: signings from this network or with this
-- domain are never held, and those held are released.
CREATE TABLE hold_exemptions (
    cause_id   INTEGER   NOT NULL REFERENCES causes (id) ON DELETE CASCADE,
    kind       TEXT      NOT NULL CHECK (kind IN ('network', 'domain')),
    value      TEXT      NOT NULL,
    admin_id   INTEGER   NOT NULL REFERENCES organisers (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (cause_id, kind, value)
);

-- "Report this cause": a reason and, if they gave one, the reporter's
-- address (found and cleared by a deletion request).
CREATE TABLE cause_reports (
    id          INTEGER PRIMARY KEY,
    cause_id    INTEGER   NOT NULL REFERENCES causes (id) ON DELETE CASCADE,
    reason      TEXT      NOT NULL,
    email       TEXT      NOT NULL DEFAULT '',
    email_key   TEXT      NOT NULL DEFAULT '',
    lang        TEXT      NOT NULL DEFAULT 'en',
    created_at  TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    resolved_by INTEGER   REFERENCES organisers (id),
    resolution  TEXT      NOT NULL DEFAULT ''      -- 'dismissed' or 'hidden'
);
CREATE INDEX cause_reports_open ON cause_reports (created_at) WHERE resolved_at IS NULL;
CREATE INDEX cause_reports_cause ON cause_reports (cause_id);
CREATE INDEX cause_reports_email_key ON cause_reports (email_key) WHERE email_key <> '';

-- Every act of moderation: who, when, what.
CREATE TABLE moderation_log (
    id         INTEGER PRIMARY KEY,
    admin_id   INTEGER   NOT NULL REFERENCES organisers (id),
    action     TEXT      NOT NULL,
    cause_id   INTEGER   REFERENCES causes (id) ON DELETE SET NULL,
    detail     TEXT      NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX moderation_log_cause ON moderation_log (cause_id, id);

-- A person's request for a copy of their data, or for its deletion: a
-- one-use link mailed to the address. Used or expired requests go; a
-- deletion removes every request of the address.
CREATE TABLE privacy_requests (
    token_hash TEXT      PRIMARY KEY,              -- SHA-256 of the link's token, hex
    email      TEXT      NOT NULL,
    email_key  TEXT      NOT NULL,
    kind       TEXT      NOT NULL CHECK (kind IN ('export', 'delete')),
    lang       TEXT      NOT NULL DEFAULT 'en',
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
CREATE INDEX privacy_requests_email_key ON privacy_requests (email_key, created_at);
CREATE INDEX privacy_requests_expires ON privacy_requests (expires_at);
