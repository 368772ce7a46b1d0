package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/rallyhq/rally/campaigns"
)

// dsn returns Rally's connection string for the database at path, with
// the same pragmas as the server: the writer takes its lock at BEGIN, a
// reader can only read.
func dsn(path string, writer bool) string {
	q := "_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_synchronous=FULL"
	if writer {
		q += "&_txlock=immediate"
	} else {
		q += "&_query_only=1"
	}
	return "file:" + path + "?" + q
}

// dbPath returns the database file of a data folder, which must exist.
func dbPath(data string) (string, error) {
	path := filepath.Join(data, "rally.db")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no database in %s (run `rally migrate --data %s` or start Rally on it first): %w", data, data, err)
	}
	return path, nil
}

// openReader opens a read-only pool on a data folder's database.
func openReader(data string) (*sql.DB, error) {
	path, err := dbPath(data)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// seed adds n confirmed signatures to the cause with the slug, through the
// campaigns store in transactions of batch rows. No server may be running
// on the folder: it would not see the new count in its caches.
func seed(ctx context.Context, data, slug string, n, batch int) error {
	path, err := dbPath(data)
	if err != nil {
		return err
	}
	// A large page cache keeps the growing indexes in memory while a
	// million rows go in.
	writer, err := sql.Open("sqlite3", dsn(path, true)+"&_cache_size=-262144")
	if err != nil {
		return err
	}
	defer writer.Close()
	writer.SetMaxOpenConns(1)
	reader, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		return err
	}
	defer reader.Close()
	st := campaigns.NewStore(writer, reader)
	defer st.Close()
	cz, err := st.FindCauseBySlug(ctx, slug)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return st.SeedSignatures(ctx, cz.ID, n, batch)
}

// signerRow is what the database holds for one of the run's signers.
type signerRow struct {
	Confirmed bool
}

// runRange returns the bounds of the run's comparison keys: every address
// load-RUN-N@… sorts between them.
func runRange(run string) (lo, hi string) { return "load-" + run + "-", "load-" + run + "." }

// readSigners returns the run's signatures on disk, by signer number.
func readSigners(ctx context.Context, db *sql.DB, run string) (map[int64]signerRow, error) {
	lo, hi := runRange(run)
	rows, err := db.QueryContext(ctx, `SELECT email, confirmed_at IS NOT NULL FROM signatures
		WHERE email_key >= ? AND email_key < ?`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read signatures: %w", err)
	}
	defer rows.Close()
	out := map[int64]signerRow{}
	for rows.Next() {
		var email string
		var confirmed bool
		if err := rows.Scan(&email, &confirmed); err != nil {
			return nil, err
		}
		if n, ok := signerNumber(run, email); ok {
			out[n] = signerRow{Confirmed: confirmed}
		}
	}
	return out, rows.Err()
}

// outboxRow is one mail queued for one of the run's signers.
type outboxRow struct {
	ID     int64
	Status string
}

// readOutbox returns the mails queued for the run's signers, by signer
// number (the last one when a signer has several).
func readOutbox(ctx context.Context, db *sql.DB, run string) (map[int64][]outboxRow, error) {
	lo, hi := runRange(run)
	rows, err := db.QueryContext(ctx, `SELECT id, to_addr, status FROM outbox WHERE to_addr >= ? AND to_addr < ?`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	out := map[int64][]outboxRow{}
	for rows.Next() {
		var r outboxRow
		var to string
		if err := rows.Scan(&r.ID, &to, &r.Status); err != nil {
			return nil, err
		}
		if n, ok := signerNumber(run, to); ok {
			out[n] = append(out[n], r)
		}
	}
	return out, rows.Err()
}

// integrityCheck runs PRAGMA integrity_check and returns its answer: "ok",
// or the problems it found.
func integrityCheck(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", err
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

// mailFileIDs returns the outbox ids of the .eml files in a dev outbox
// folder (their names end in -ID.eml).
func mailFileIDs(dir string) (map[int64]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	ids := map[int64]bool{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".eml")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		if i := strings.LastIndexByte(name, '-'); i >= 0 {
			if id, err := strconv.ParseInt(name[i+1:], 10, 64); err == nil {
				ids[id] = true
			}
		}
	}
	return ids, nil
}

// verification is what the database holds of the run's acknowledged work.
type verification struct {
	Signed, SignedOnDisk       int // acknowledged signings; of those, rows on disk
	Mailed                     int // acknowledged signings with a mail queued or sent
	Confirmed, ConfirmedOnDisk int // acknowledged confirmations; of those, confirmed on disk
	Extra                      int // signatures on disk the tool never saw acknowledged (timed out)
	MissingSigned              []int64
	MissingConfirmed           []int64
}

// OK reports whether every acknowledged signing and confirmation is on disk.
func (v verification) OK() bool {
	return len(v.MissingSigned) == 0 && len(v.MissingConfirmed) == 0 && v.Mailed == v.Signed
}

// verify checks every acknowledged signing and confirmation of the run
// against the database of a data folder.
func verify(ctx context.Context, data, run string, signed, confirmed []int64) (verification, error) {
	v := verification{Signed: len(signed), Confirmed: len(confirmed)}
	db, err := openReader(data)
	if err != nil {
		return v, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rows, err := readSigners(ctx, db, run)
	if err != nil {
		return v, err
	}
	mails, err := readOutbox(ctx, db, run)
	if err != nil {
		return v, err
	}
	acked := make(map[int64]bool, len(signed))
	for _, n := range signed {
		acked[n] = true
		if _, ok := rows[n]; ok {
			v.SignedOnDisk++
		} else {
			v.MissingSigned = append(v.MissingSigned, n)
		}
		for _, m := range mails[n] {
			if m.Status == "queued" || m.Status == "sent" {
				v.Mailed++
				break
			}
		}
	}
	for n := range rows {
		if !acked[n] {
			v.Extra++
		}
	}
	for _, n := range confirmed {
		if rows[n].Confirmed {
			v.ConfirmedOnDisk++
		} else {
			v.MissingConfirmed = append(v.MissingConfirmed, n)
		}
	}
	return v, nil
}

// errMissing says acknowledged work was not found on disk.
var errMissing = errors.New("acknowledged work missing from the database")
