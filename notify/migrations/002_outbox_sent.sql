-- Sent mail is kept for a while (see WorkerOptions.KeepSent), then deleted by
-- the worker. Partial: a row enters it when it is sent, so queueing a mail
-- does not write it.
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE status = 'sent';
