-- Addresses that get no campaign mail: from one cause (cause_id), or from
-- any (cause_id 0). Keyed by a hash of the address's comparison key, so the
-- list keeps no address and holds after a person's data is deleted.
--
-- The same table as blasts' (migration 003 on that line of work), so that
-- one list serves unsubscribing, bounces and deletion requests: IF NOT
-- EXISTS makes this file a no-op where that one ran first.
CREATE TABLE IF NOT EXISTS suppressions (
    key_hash   TEXT      NOT NULL,
    cause_id   INTEGER   NOT NULL DEFAULT 0,
    reason     TEXT      NOT NULL CHECK (reason IN ('unsubscribe', 'bounce', 'request')),
    blast_id   INTEGER,                            -- the blast whose link or bounce did it
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (key_hash, cause_id)
);
CREATE INDEX IF NOT EXISTS suppressions_blast ON suppressions (blast_id) WHERE blast_id IS NOT NULL;
