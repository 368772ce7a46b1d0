// Package database is Rally's SQLite plumbing: the connection strings, the
// two pools on one file (a single writer and a few readers), the
// checkpointer, backups and integrity checks, and the migration runner (its
// test opener is package dbtest). cmd/rally opens the database through it, and every package's
// tests open theirs through dbtest.Open, so a test runs on the same pragmas as
// production. It imports no Rally package: the feature packages hand it
// their migrations as a Set.
//
// Everything here is SQLite's: a PostgreSQL backend would add its own Open
// beside this one, while the feature packages keep what only SQLite has in
// one file each (sqlite.go).
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// File is the database's name inside a data folder.
const File = "rally.db"

// Path returns the database file of the data folder dir.
func Path(dir string) string { return filepath.Join(dir, File) }

// writerWALPages is the WAL size, in pages, at which the writer checkpoints
// itself. Checkpoints are the checkpointer's job (see Checkpoints): in a
// surge it keeps the WAL copied into the database as it grows, so when the
// writer does reach this size it copies only the tail and starts the WAL
// again. With SQLite's default of 1,000 pages the writer would stop every
// second or so to copy and fsync megabytes, which is where signing's worst
// latencies came from.
const writerWALPages = 4000

// writerDriver is the writer's driver: go-sqlite3 with the one setting no
// DSN parameter reaches.
const writerDriver = "sqlite3_writer"

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", writerWALPages), nil)
		return err
	}})
}

// DSN returns the connection string for the database file at path, with
// synchronous set to sync ("full" or "normal"), for the writer or for a
// reader. Every pragma is in the DSN so every pooled connection gets it.
func DSN(path, sync string, writer bool) string {
	// Each connection keeps its last 64 prepared statements: queries run
	// with a SQL string (most of them, beside signing's, which prepares its
	// own) are otherwise compiled again every time, which for confirming a
	// signature was 60 µs of the single writer's time.
	q := "_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_stmt_cache_size=64&_synchronous=" + strings.ToUpper(sync)
	if writer {
		// A larger page cache for the writer keeps the hot index pages of
		// signing (the email key's above all) in memory between batches.
		q += "&_txlock=immediate&_cache_size=-10000"
		// What a deletion or anonymisation removes is zeroed on the pages
		// the writer writes anyway (FAST: no more I/O), instead of staying
		// readable in the file's free space until the space is reused.
		q += "&_secure_delete=FAST"
	} else {
		q += "&_query_only=1"
	}
	return "file:" + path + "?" + q
}

// Open opens the single writer and the reader pool on dir's database,
// creating the folder and the file if need be.
func Open(dir, sync string) (writer, reader *sql.DB, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create data folder: %w", err)
	}
	path := Path(dir)
	writer, err = sql.Open(writerDriver, DSN(path, sync, true))
	if err != nil {
		return nil, nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	// The writer creates the file and switches it to WAL before readers open it.
	if err := writer.Ping(); err != nil {
		writer.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	reader, err = sql.Open("sqlite3", DSN(path, sync, false))
	if err != nil {
		writer.Close()
		return nil, nil, err
	}
	// Few readers: public pages and JSON are served from memory, and each
	// connection keeps its own page cache (RSS stays under 100 MB).
	reader.SetMaxOpenConns(4)
	reader.SetMaxIdleConns(4)
	reader.SetConnMaxIdleTime(5 * time.Minute)
	return writer, reader, nil
}

// Checkpoints copies the WAL of dir's database into the database file from
// its own connection until ctx ends, so the writer seldom has to (see
// writerWALPages): a passive checkpoint runs beside the writer's commits
// without blocking them. It runs ten times a second while the WAL grows (a
// page written by many batches in between is copied once) and backs off to
// once a second when there is nothing to copy.
func Checkpoints(ctx context.Context, dir, sync string) {
	db, err := sql.Open("sqlite3", strings.Replace(DSN(Path(dir), sync, false), "&_query_only=1", "", 1))
	if err != nil {
		slog.Error("checkpointer", slog.Any("error", err))
		return
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	wait, last := time.Second, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var busy, log, copied int
		if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &copied); err != nil {
			if ctx.Err() == nil {
				slog.Warn("checkpoint", slog.Any("error", err))
			}
			wait = time.Second
			continue
		}
		if log > 0 && (log != last || copied < log) {
			wait = 100 * time.Millisecond // writes are coming in
		} else {
			wait = min(wait*2, time.Second)
		}
		last = log
	}
}

// Backup writes a consistent, compacted copy of the database to file while
// the server runs. It only reads the database, but a query_only reader may
// not run it: pass the writer.
func Backup(ctx context.Context, writer *sql.DB, file string) error {
	if _, err := writer.ExecContext(ctx, `VACUUM INTO ?`, file); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// ErrDamaged is returned by Check for a database that fails SQLite's
// integrity or foreign-key checks.
var ErrDamaged = errors.New("database damaged")

// Check runs SQLite's integrity check and foreign-key check on db and
// returns nil when both find nothing, or ErrDamaged with what they found.
func Check(ctx context.Context, db *sql.DB) error {
	var problems []string
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("integrity check: %w", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	rows, err = db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return fmt.Errorf("foreign key check: %w", err)
		}
		problems = append(problems, fmt.Sprintf("%s row %d refers to a missing %s", table, rowid.Int64, parent))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("and %d more", len(problems)-10))
		}
		return fmt.Errorf("%w: %s", ErrDamaged, strings.Join(problems, "; "))
	}
	return nil
}

// OpenCopy opens a database file nobody else uses (a backup being made, a
// copy being restored) on one connection, with foreign keys on and full
// durability.
func OpenCopy(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000&_foreign_keys=on&_synchronous=FULL")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Busy reports whether err is SQLite saying the database is busy or
// locked: another connection held it longer than the busy timeout.
func Busy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}
