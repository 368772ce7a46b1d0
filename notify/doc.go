// Package notify is Rally's email: the outbox queue, the senders (SMTP through
// go-mail, or the dev outbox on disk), the delivery worker, the dev mail
// viewer, and mobilisation blasts with their tracked links, unsubscribe
// pages and suppression list. It also owns addresses: how they are
// normalised and compared (NormalizeEmail, EmailKey), since it mails them.
//
// # Blasts
//
// A blast is an organiser's email to a cause's confirmed signers who asked
// for updates. notify imports no feature package: campaigns gives it the
// causes and the people through Audience, and cmd/rally the organiser
// signed in and the owner check.
//
// Delivery reuses the outbox and its worker, so a blast is delivered like
// every mail (one queue, one rate, one set of connections, retries with
// backoff, transactional mail first), and the single writer's transactions
// stay short:
//
//   - Fan-out. Blasts.Run writes one delivery row per recipient
//     (blast_deliveries, UNIQUE (blast_id, recipient)), 500 a transaction,
//     from the audience read a page at a time, less the suppressed
//     addresses; the blast keeps its position in the audience, so a
//     restarted server goes on where it stopped, and an address already
//     written is skipped.
//   - Feed. Delivery rows go into the outbox as bulk mail queued by
//     reference (template "blast", the delivery's id in the data), at most
//     500 a transaction and a window of 2,000 in the outbox at once; a row
//     becomes 'sending' in the transaction that queues its message. The
//     window keeps a pause or a cancel quick (the blast's messages not yet
//     claimed are taken back out, at most a window) and never puts more
//     than a round of bulk mail ahead of a confirmation: the worker claims
//     by priority.
//   - Send. The worker renders each claimed blast message (the blast's mail
//     is rendered once per version, then each person's values are filled in
//     its holes), checks the suppression list just before sending, so an
//     unsubscribe holds for a blast already sending, and writes the outcome
//     to the outbox row and the delivery row in one transaction: sent;
//     bounced and suppressed for every cause (550–553, or 5.1.x, at RCPT);
//     failed (5.7.x and other refusals, or out of retries); or retried
//     later (4xx), the row staying 'sending'.
//   - Finish. A blast whose rows are all written and have an outcome is
//     sent. "Retry failed" queues its failed rows again (not the bounced).
//
// Delivery is at least once. After a crash (kill -9), the messages a dead
// worker had claimed are due again when the next one starts; those that
// can go twice are the ones in flight: at most one per SMTP connection
// that was sending, plus the messages the relay had accepted whose outcomes
// were not yet written, at most 2 × 32. Nothing is lost: a delivery row is
// 'queued' (to be fed) or 'sending' (its message in the outbox) until its
// outcome is written.
//
// Links in blast mails are signed (HMAC-SHA256, keyed by RALLY_SECRET) and
// name the blast, the delivery and, for a click, the link's index among
// the addresses stored with the blast; click, open and unsubscribe tokens
// have keys of their own and cannot stand for each other. A tracked link
// redirects only to a stored address; anything else is 404. Clicks that
// look like a mail scanner's (HEAD, a scanner's agent, within seconds of
// sending, several links at once, the hidden link) are counted apart.
package notify
