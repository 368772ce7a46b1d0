package campaigns

// What only SQLite has, in campaigns: the driver's error codes, times bound
// as the text go-sqlite3 would write, inserts run as queries for
// go-sqlite3's binding, and the queries that name their index.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// isUnique reports whether err is a UNIQUE or PRIMARY KEY constraint violation.
func isUnique(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return false
}

// sqliteTime is the layout go-sqlite3 writes a time.Time in, and reads
// back. A time formatted with it ahead of the write is stored exactly as the
// time.Time would have been.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// dbTime returns t, which must be in UTC, as go-sqlite3 would store it:
// signing formats its times in the request's goroutine, so the single
// writer only binds text.
func dbTime(t time.Time) string { return t.Format(sqliteTime) }

// runInsert runs an insert statement that returns no rows through QueryContext
// rather than ExecContext: go-sqlite3 binds a query's values and takes its
// first step in one call into C, but an exec's values one call each, which
// for multi-row inserts of hundreds of values is most of the binding's cost.
func runInsert(ctx context.Context, st *sql.Stmt, args ...any) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	return rows.Close()
}

// The signing path finds confirmed signatures through the partial index
// that keeps one confirmed signature per person, named so that SQLite's
// planner takes no other.
const (
	// confirmedKeys finds which of a cause's comparison keys already have a
	// confirmed signature, and its id; signMany completes it with a
	// placeholder per key.
	confirmedKeys = `SELECT id, email_key FROM signatures INDEXED BY signatures_confirmed_key
		WHERE cause_id = ? AND confirmed_at IS NOT NULL AND email_key IN (`
	// confirmedByKey finds the confirmed signature of a cause by a key.
	confirmedByKey = `SELECT id FROM signatures INDEXED BY signatures_confirmed_key
		WHERE cause_id = ? AND email_key = ? AND confirmed_at IS NOT NULL`
)

// Full-text search of causes: cause_search is an FTS4 table (see
// migration 010) whose docid is the cause's id.

// indexCause writes the cause's row of the search index, in the
// transaction that writes the cause's text.
func indexCause(ctx context.Context, tx *sql.Tx, c Cause) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM cause_search WHERE docid = ?`, c.ID); err != nil {
		return fmt.Errorf("index cause: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cause_search (docid, title, summary, body, target) VALUES (?, ?, ?, ?, ?)`,
		c.ID, searchText(c.Title), searchText(c.Summary), searchText(c.BodyMD), searchText(c.Target)); err != nil {
		return fmt.Errorf("index cause: %w", err)
	}
	return nil
}

// indexCauses builds the search index of the causes already there: the
// data step of migration 010.
func indexCauses(ctx context.Context, tx *sql.Tx) error {
	// Only the columns the index needs: later migrations add columns to
	// causes that this step, run before them, must not ask for.
	rows, err := tx.QueryContext(ctx, `SELECT id, title, summary, body_md, target FROM causes`)
	if err != nil {
		return fmt.Errorf("index causes: %w", err)
	}
	defer rows.Close()
	var causes []Cause
	for rows.Next() {
		var c Cause
		if err := rows.Scan(&c.ID, &c.Title, &c.Summary, &c.BodyMD, &c.Target); err != nil {
			return fmt.Errorf("index causes: %w", err)
		}
		causes = append(causes, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index causes: %w", err)
	}
	for _, c := range causes {
		if err := indexCause(ctx, tx, c); err != nil {
			return err
		}
	}
	return nil
}

// searchCauses finds the public causes matching a MATCH expression, with
// what ranking needs: the newest maxHits of them. CROSS JOIN keeps the
// full-text table the outer loop, where matchinfo can be used.
const searchCauses = `SELECT c.id, c.status, c.ends_at, c.published_at, matchinfo(cause_search, 'pcnx')
	FROM cause_search CROSS JOIN causes c ON c.id = cause_search.docid
	WHERE cause_search MATCH ? AND ` + listedCausesC + `
	ORDER BY cause_search.docid DESC LIMIT ?`

// badMatch reports whether err is SQLite refusing a MATCH expression as
// malformed. matchQuery never makes one, but a search must find nothing
// rather than fail if it ever did. SQLite gives such an error no code of
// its own: its message tells it from other SQL errors.
func badMatch(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrError && strings.Contains(se.Error(), "malformed MATCH")
}

// Blasts read their audience through the partial index of confirmed
// signatures that asked for updates, named: with few rows, or no
// statistics, SQLite's planner would take the cause's index of every
// signing.
const (
	// audienceRecipients pages through a cause's audience in id order;
	// BlastAudience.Recipients completes it.
	audienceRecipients = `SELECT id, email, name, lang, country FROM signatures INDEXED BY signatures_blast_audience
		WHERE cause_id = ? AND confirmed_at IS NOT NULL AND consent_updates = 1 AND id > ?`
	// audienceCountries counts a cause's audience by country.
	audienceCountries = `SELECT country, count(*) FROM signatures INDEXED BY signatures_blast_audience
		WHERE cause_id = ? AND confirmed_at IS NOT NULL AND consent_updates = 1 AND country <> ''
		GROUP BY country`
)

// The signatures table with the index a count of held, invalidated or
// confirmed signatures must read, named: with few such rows, or no
// statistics, SQLite's planner would take the cause's index of every
// signing instead.
const (
	heldSignatures        = `signatures INDEXED BY signatures_held`
	invalidatedSignatures = `signatures INDEXED BY signatures_invalidation`
	confirmedSignatures   = `signatures INDEXED BY signatures_cause_confirmed`
)
