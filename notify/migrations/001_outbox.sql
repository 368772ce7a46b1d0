-- The outbox: every email is written here first, in the same transaction as
-- whatever caused it, then delivered by the worker.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    priority        INTEGER   NOT NULL DEFAULT 0,   -- 0 transactional, 1 bulk: lower goes first
    kind            TEXT      NOT NULL DEFAULT '',  -- what the mail is, for logs and metrics
    message_id      TEXT      NOT NULL,             -- the Message-ID header, fixed at enqueue so retries keep it;
                                                    -- random, so unique without an index (which would cost a
                                                    -- random page write per mail)
    to_addr         TEXT      NOT NULL,
    to_name         TEXT      NOT NULL DEFAULT '',
    lang            TEXT      NOT NULL DEFAULT 'en',
    subject         TEXT      NOT NULL DEFAULT '',
    text_body       TEXT      NOT NULL DEFAULT '',
    html_body       TEXT      NOT NULL DEFAULT '',
    -- A mail queued by reference: the worker renders this template with
    -- this JSON data when it sends, instead of the rendered parts above.
    -- Signing queues thousands of mails a second; a 4 KB rendered mail per
    -- signing would be most of what the database writes.
    template        TEXT      NOT NULL DEFAULT '',
    data            TEXT      NOT NULL DEFAULT '',
    headers         TEXT      NOT NULL DEFAULT '{}', -- JSON object of extra headers
    status          TEXT      NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER   NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    leased_until    TIMESTAMP,
    last_error      TEXT      NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, priority, next_attempt_at);
