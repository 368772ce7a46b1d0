-- Presence: what organisers say on their causes' pages (updates, their
-- words on victory), how a cause's signatures break down, and the public
-- face of an organiser (their organisation page).

-- Updates an organiser posts on a cause's page, newest first. email_asked
-- records that its author asked for it to be mailed to the cause's
-- supporters; sending it is the mailing feature's job.
CREATE TABLE cause_updates (
    id          INTEGER PRIMARY KEY,
    cause_id    INTEGER   NOT NULL REFERENCES causes (id) ON DELETE CASCADE,
    author_id   INTEGER   NOT NULL REFERENCES organisers (id),
    title       TEXT      NOT NULL,
    body_md     TEXT      NOT NULL DEFAULT '',
    email_asked INTEGER   NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX cause_updates_cause ON cause_updates (cause_id, id);

-- The organiser's words shown in the victory banner.
ALTER TABLE causes ADD COLUMN victory_message TEXT NOT NULL DEFAULT '';

-- Confirmed signatures by country and by day (UTC), moved with
-- causes.signature_count by the writer's after-batch hook, so a cause's
-- breakdown is a few rows to read whatever its size.
CREATE TABLE cause_countries (
    cause_id   INTEGER NOT NULL REFERENCES causes (id) ON DELETE CASCADE,
    country    TEXT    NOT NULL,                    -- upper-case ISO 3166 alpha-2, '' when unknown
    signatures INTEGER NOT NULL,
    PRIMARY KEY (cause_id, country)
);
CREATE TABLE cause_days (
    cause_id   INTEGER NOT NULL REFERENCES causes (id) ON DELETE CASCADE,
    day        TEXT    NOT NULL,                    -- YYYY-MM-DD, UTC
    signatures INTEGER NOT NULL,
    PRIMARY KEY (cause_id, day)
);
INSERT INTO cause_countries (cause_id, country, signatures)
    SELECT cause_id, upper(country), count(*) FROM signatures
    WHERE confirmed_at IS NOT NULL AND held = 0 AND invalidation_id IS NULL GROUP BY cause_id, upper(country);
INSERT INTO cause_days (cause_id, day, signatures)
    SELECT cause_id, substr(confirmed_at, 1, 10), count(*) FROM signatures
    WHERE confirmed_at IS NOT NULL AND held = 0 AND invalidation_id IS NULL GROUP BY cause_id, substr(confirmed_at, 1, 10);

-- An organiser's public page, /org/{handle}: set once they pick a handle.
ALTER TABLE organisers ADD COLUMN handle TEXT;
ALTER TABLE organisers ADD COLUMN org_name TEXT NOT NULL DEFAULT '';
ALTER TABLE organisers ADD COLUMN org_about TEXT NOT NULL DEFAULT '';
ALTER TABLE organisers ADD COLUMN org_website TEXT NOT NULL DEFAULT '';
ALTER TABLE organisers ADD COLUMN org_logo TEXT NOT NULL DEFAULT '';  -- file name under RALLY_DATA/uploads
CREATE UNIQUE INDEX organisers_handle ON organisers (handle);
