package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// backoff is the wait after each temporary failure: a minute after the
// first, five after the second, and so on. A message whose last attempt
// (the sixth) fails too is marked failed.
var backoff = [...]time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}

// maxAttempts is how many times a message is tried before it is failed.
const maxAttempts = len(backoff) + 1

// result is what happened to one claimed message.
type result struct {
	id       int64
	attempts int // the attempt number the claim gave it: the lease's fencing token
	sent     bool
	failed   bool // permanently
	// released: not tried, through no fault of its own (the relay could not
	// be reached or refused the sender, or the worker stopped): the claim's
	// attempt is given back and the message is due again at retryAt.
	released bool
	retryAt  time.Time
	lastErr  string
	// A blast message's delivery row, which gets the outcome too (see
	// recordDelivery), and what the outcome means for it.
	delivery   int64
	bounced    bool // the mailbox does not exist
	suppressed bool // not sent: the address was suppressed
}

// claim leases up to limit due messages, transactional first, in one short
// write transaction. A lease moves next_attempt_at to leaseUntil, so if the
// worker dies the message becomes due again when the lease runs out. It also
// counts the attempt, which fences the lease: only the worker holding the
// latest attempt number can record the outcome.
//
// This is the one place that relies on SQLite's single writer for exclusive
// claims; on PostgreSQL it would be SELECT … FOR UPDATE SKIP LOCKED.
func claim(ctx context.Context, db *sql.DB, now, leaseUntil time.Time, limit int) ([]Message, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `UPDATE outbox
		SET attempts = attempts + 1, next_attempt_at = ?, leased_until = ?
		WHERE id IN (
			SELECT id FROM outbox
			WHERE status = 'queued' AND next_attempt_at <= ?
			ORDER BY priority, next_attempt_at, id
			LIMIT ?)
		RETURNING id, priority, kind, message_id, to_addr, to_name, lang, subject, text_body, html_body, template, data, headers,
			attempts, created_at`,
		leaseUntil, leaseUntil, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	defer rows.Close()
	var msgs []Message
	for rows.Next() {
		var m Message
		var prio int
		var headers, data string
		if err := rows.Scan(&m.ID, &prio, &m.Kind, &m.MessageID, &m.To, &m.ToName, &m.Lang, &m.Subject,
			&m.Text, &m.HTML, &m.Template, &data, &headers, &m.Attempts, &m.CreatedAt); err != nil {
			return nil, fmt.Errorf("claim mail: %w", err)
		}
		if data != "" {
			// Data that does not parse renders as empty; the template shows its gaps.
			_ = json.Unmarshal([]byte(data), &m.Data)
		}
		m.Priority = Priority(prio)
		if headers != "" && headers != "{}" {
			// A row whose headers do not parse is still delivered, without them.
			_ = json.Unmarshal([]byte(headers), &m.Headers)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	// RETURNING has no defined order.
	sort.Slice(msgs, func(i, j int) bool {
		if msgs[i].Priority != msgs[j].Priority {
			return msgs[i].Priority < msgs[j].Priority
		}
		return msgs[i].ID < msgs[j].ID
	})
	return msgs, nil
}

// record writes the outcomes of a batch in one transaction. A row is only
// updated while it still carries the attempt number of this worker's claim:
// if the lease ran out and another worker claimed it again, the newer claim
// owns it. (A released row goes back to its old number, which a stale claim
// may then match; but a released row was never tried, so the stale claim's
// outcome is the only one there is.) It returns how many rows were updated.
func record(ctx context.Context, db *sql.DB, now time.Time, results []result) (int, error) {
	if len(results) == 0 {
		return 0, nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("record mail results: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// One statement per kind of outcome, prepared once for the batch.
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			_ = st.Close()
		}
	}()
	exec := func(query string, args ...any) (sql.Result, error) {
		st := stmts[query]
		if st == nil {
			if st, err = tx.PrepareContext(ctx, query); err != nil {
				return nil, err
			}
			stmts[query] = st
		}
		return st.ExecContext(ctx, args...)
	}
	n := 0
	for _, r := range results {
		var res sql.Result
		switch {
		case r.sent:
			res, err = exec(`UPDATE outbox
				SET status = 'sent', sent_at = ?, leased_until = NULL, last_error = ''
				WHERE id = ? AND attempts = ? AND status = 'queued'`, now, r.id, r.attempts)
		case r.failed:
			res, err = exec(`UPDATE outbox
				SET status = 'failed', leased_until = NULL, last_error = ?
				WHERE id = ? AND attempts = ? AND status = 'queued'`, r.lastErr, r.id, r.attempts)
		case r.released:
			res, err = exec(`UPDATE outbox
				SET attempts = attempts - 1, next_attempt_at = ?, leased_until = NULL, last_error = coalesce(nullif(?, ''), last_error)
				WHERE id = ? AND attempts = ? AND status = 'queued'`, r.retryAt, r.lastErr, r.id, r.attempts)
		default:
			res, err = exec(`UPDATE outbox
				SET next_attempt_at = ?, leased_until = NULL, last_error = ?
				WHERE id = ? AND attempts = ? AND status = 'queued'`, r.retryAt, r.lastErr, r.id, r.attempts)
		}
		if err != nil {
			return 0, fmt.Errorf("record mail results: %w", err)
		}
		k, err := res.RowsAffected()
		if err == nil {
			n += int(k)
		}
		if r.delivery > 0 && k > 0 {
			if err := recordDelivery(ctx, exec, now, r); err != nil {
				return 0, fmt.Errorf("record mail results: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("record mail results: %w", err)
	}
	return n, nil
}

// lease is a claim on one message: its id and the attempt number the claim
// gave it.
type lease struct {
	id       int64
	attempts int
}

// renew extends the leases of messages still being sent to leaseUntil and
// returns the ids it could not extend: their rows were claimed again by
// another worker, or already have an outcome.
func renew(ctx context.Context, db *sql.DB, leaseUntil time.Time, leases []lease) ([]int64, error) {
	if len(leases) == 0 {
		return nil, nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("renew mail leases: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var lost []int64
	for _, l := range leases {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ?, leased_until = ?
			WHERE id = ? AND attempts = ? AND status = 'queued' AND leased_until IS NOT NULL`,
			leaseUntil, leaseUntil, l.id, l.attempts)
		if err != nil {
			return nil, fmt.Errorf("renew mail leases: %w", err)
		}
		if k, err := res.RowsAffected(); err == nil && k == 0 {
			lost = append(lost, l.id)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("renew mail leases: %w", err)
	}
	return lost, nil
}

// RetryFailed queues every failed message again, due at now with all its
// attempts ahead of it, and returns how many it queued. It is for after
// whatever failed them is fixed: a relay that refused Rally's sender, say.
// Blast messages are left to their blast's own "retry failed", which
// knows bounced and unsubscribed addresses from failed ones.
func RetryFailed(ctx context.Context, db *sql.DB, now time.Time) (int, error) {
	res, err := db.ExecContext(ctx, `UPDATE outbox
		SET status = 'queued', attempts = 0, next_attempt_at = ?, leased_until = NULL
		WHERE status = 'failed' AND template <> ?`, now.UTC(), blastTemplate)
	if err != nil {
		return 0, fmt.Errorf("retry failed mail: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("retry failed mail: %w", err)
	}
	wake()
	return int(n), nil
}

// purgeSent deletes up to limit messages sent before before, oldest first,
// through the outbox_sent index.
func purgeSent(ctx context.Context, db *sql.DB, before time.Time, limit int) (int, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox INDEXED BY outbox_sent WHERE status = 'sent' AND sent_at < ? ORDER BY sent_at LIMIT ?)`,
		before, limit)
	if err != nil {
		return 0, fmt.Errorf("delete sent mail: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// countQueued returns how many messages wait for delivery.
func countQueued(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'queued'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count queued mail: %w", err)
	}
	return n, nil
}
