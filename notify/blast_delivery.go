package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// renderBlast fills in a blast message the worker claimed.
func (w *Worker) renderBlast(ctx context.Context, m *Message) error {
	if w.opts.Blasts == nil {
		return permanent(errors.New("a blast message, but the worker has no blasts"))
	}
	return w.opts.Blasts.renderQueued(ctx, m)
}

// blastsSuppressed returns the claimed blast messages not to send, their
// address suppressed since they were queued. If the suppressions cannot
// be read, every blast message of the round waits for the next.
func (w *Worker) blastsSuppressed(ctx context.Context, msgs []Message) map[int64]bool {
	if w.opts.Blasts == nil {
		return nil
	}
	out, err := w.opts.Blasts.suppressedIn(ctx, msgs)
	if err != nil {
		w.log.Error("read suppressed addresses", slog.Any("error", err))
		return nil
	}
	return out
}

// enhancedCode finds an RFC 3463 status code in a reply.
var enhancedCode = regexp.MustCompile(`\b([245])\.(\d{1,3})\.\d{1,3}\b`)

// isBounce reports whether err is a recipient's refusal that says the
// mailbox does not exist: 550 to 553, or 5.1.x, at RCPT TO. A policy
// refusal (5.7.x: spam, a blocklist, DMARC) is about the message or the
// sender, not the address, and is not a bounce, whatever its basic code.
func isBounce(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.Reason != gomail.ErrSMTPRcptTo {
		return false
	}
	code := se.EnhancedStatusCode()
	if code == "" {
		code = enhancedCode.FindString(err.Error())
	}
	if m := enhancedCode.FindStringSubmatch(code); m != nil {
		switch {
		case m[1] == "5" && m[2] == "7":
			return false
		case m[1] == "5" && m[2] == "1":
			return true
		}
	}
	c := se.ErrorCode()
	return c >= 550 && c <= 553
}

// recordDelivery writes a blast message's outcome to its delivery row, in
// the transaction that records it in the outbox: a bounce suppresses the
// address for every cause.
func recordDelivery(ctx context.Context, exec func(string, ...any) (sql.Result, error), now time.Time, r result) error {
	var err error
	switch {
	case r.released:
		return nil
	case r.sent:
		_, err = exec(`UPDATE blast_deliveries SET state = 'sent', attempts = ?, last_reply = '', sent_at = ?, updated_at = ?
			WHERE id = ? AND state = 'sending'`, r.attempts, now, now, r.delivery)
	case r.suppressed:
		_, err = exec(`UPDATE blast_deliveries SET state = 'suppressed', last_reply = ?, updated_at = ?
			WHERE id = ? AND state = 'sending'`, r.lastErr, now, r.delivery)
	case r.bounced:
		_, err = exec(`UPDATE blast_deliveries SET state = 'bounced', attempts = ?, last_reply = ?, updated_at = ?
			WHERE id = ? AND state = 'sending'`, r.attempts, r.lastErr, now, r.delivery)
		if err == nil {
			_, err = exec(`INSERT INTO suppressions (key_hash, cause_id, reason, blast_id, created_at)
				SELECT key_hash, 0, 'bounce', blast_id, ? FROM blast_deliveries WHERE id = ?
				ON CONFLICT (key_hash, cause_id) DO NOTHING`, now, r.delivery)
		}
	case r.failed:
		_, err = exec(`UPDATE blast_deliveries SET state = 'failed', attempts = ?, last_reply = ?, updated_at = ?
			WHERE id = ? AND state = 'sending'`, r.attempts, r.lastErr, now, r.delivery)
	default:
		// Retried later: it stays in the outbox.
		_, err = exec(`UPDATE blast_deliveries SET attempts = ?, last_reply = ?, updated_at = ?
			WHERE id = ? AND state = 'sending'`, r.attempts, r.lastErr, now, r.delivery)
	}
	if err != nil {
		return fmt.Errorf("delivery %d: %w", r.delivery, err)
	}
	return nil
}

// releaseLeases makes the messages a worker had claimed before Rally
// stopped due at once. One Rally serves a data folder, so when its worker
// starts every lease is a dead process's: those messages were being sent
// when it died, and waiting for their leases to run out would only delay
// them. It returns how many.
func releaseLeases(ctx context.Context, db *sql.DB, now time.Time) (int, error) {
	res, err := db.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ?, leased_until = NULL
		WHERE status = 'queued' AND leased_until IS NOT NULL`, now)
	if err != nil {
		return 0, fmt.Errorf("release mail leases: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
