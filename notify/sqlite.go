package notify

// What only SQLite has, in notify: the outbox claim, which relies on the
// single writer; times bound as the text go-sqlite3 would write; inserts run
// as queries for go-sqlite3's binding; the purge through INDEXED BY.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// sqliteTime is the layout go-sqlite3 writes a time.Time in, and reads
// back. A time formatted with it ahead of the write is stored exactly as the
// time.Time would have been.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// dbTime returns t, which must be in UTC, as go-sqlite3 would store it: a
// path that queues thousands of mails a second formats its times before it
// joins the single writer, which then only binds text.
func dbTime(t time.Time) string { return t.Format(sqliteTime) }

// insert runs an insert statement that returns no rows through QueryContext
// rather than ExecContext: go-sqlite3 binds a query's values and takes its
// first step in one call into C, but an exec's values one call each, which
// for multi-row inserts of hundreds of values is most of the binding's cost.
func insert(ctx context.Context, st *sql.Stmt, args ...any) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	return rows.Close()
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
