-- Reasons for signing: the comments of public signers, which visitors can
-- give a heart to, once per browser, without an account.

-- A signature's hearts, moved with each heart given (never by signing), so
-- the most liked reasons of a cause are read from a small index.
ALTER TABLE signatures ADD COLUMN hearts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX signatures_hearts ON signatures (cause_id, hearts) WHERE hearts > 0;
-- The newest reasons of a cause, without walking its signatures that have
-- none: only signings with a public comment are written to it.
CREATE INDEX signatures_reasons ON signatures (cause_id, id) WHERE comment <> '' AND is_public = 1;

-- Who gave a heart: the browser, as a hash of the random id in its cookie
-- (never the address); one heart per browser and reason.
CREATE TABLE comment_hearts (
    signature_id INTEGER   NOT NULL REFERENCES signatures (id) ON DELETE CASCADE,
    browser      TEXT      NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (signature_id, browser)
) WITHOUT ROWID;

-- comment_hidden says who hid a comment: 1 an admin (only an admin shows
-- it again), 2 the cause's organiser.
