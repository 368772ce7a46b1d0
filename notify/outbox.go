package notify

import (
	"context"
	"database/sql"
	"fmt"
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

// countQueued returns how many messages wait for delivery.
func countQueued(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'queued'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count queued mail: %w", err)
	}
	return n, nil
}

// Delivery is where one queued mail stands.
type Delivery struct {
	ID     int64  // the outbox id; the dev outbox's file names end in it
	Kind   string // as queued, e.g. "signature_confirm"
	Status string // "queued", "sent" or "failed"
}

// DeliveriesTo returns the outbox's mails to each of the addresses, as
// they were queued, oldest first: an address with none maps to nothing. It
// reads the whole outbox once, so it suits checking many addresses at a time
// (that every mail a signing queued survived a crash), not a request.
func DeliveriesTo(ctx context.Context, db *sql.DB, addrs []string) (map[string][]Delivery, error) {
	want := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		want[a] = true
	}
	rows, err := db.QueryContext(ctx, `SELECT id, to_addr, kind, status FROM outbox ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string][]Delivery{}
	for rows.Next() {
		var d Delivery
		var to string
		if err := rows.Scan(&d.ID, &to, &d.Kind, &d.Status); err != nil {
			return nil, fmt.Errorf("read deliveries: %w", err)
		}
		if want[to] {
			out[to] = append(out[to], d)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	return out, nil
}
