package main

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/rallyhq/rally/campaigns"
)

// writerWALPages is the WAL size, in pages, at which the writer checkpoints
// itself. Checkpoints are the checkpointer's job (see checkpoints): in a
// surge it keeps the WAL copied into the database as it grows, so when the
// writer does reach this size it copies only the tail and starts the WAL
// again. With SQLite's default of 1,000 pages the writer would stop every
// second or so to copy and fsync megabytes, which is where signing's worst
// latencies came from.
const writerWALPages = 4000

func init() {
	// The writer's driver: go-sqlite3 with the one setting no DSN
	// parameter reaches.
	sql.Register("sqlite3_writer", &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", writerWALPages), nil)
		return err
	}})
}

// dsn returns the connection string for the database file at path. Every
// pragma is in the DSN so every pooled connection gets it.
func dsn(path, sync string, writer bool) string {
	// Each connection keeps its last 64 prepared statements: queries run
	// with a SQL string (most of them, beside signing's, which prepares its
	// own) are otherwise compiled again every time, which for confirming a
	// signature was 60 µs of the single writer's time.
	q := "_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_stmt_cache_size=64&_synchronous=" + strings.ToUpper(sync)
	if writer {
		// A larger page cache for the writer keeps the hot index pages of
		// signing (the email key's above all) in memory between batches.
		q += "&_txlock=immediate&_cache_size=-10000"
	} else {
		q += "&_query_only=1"
	}
	return "file:" + path + "?" + q
}

// openDB opens the single writer and the reader pool on dir/rally.db.
func openDB(dir, sync string) (writer, reader *sql.DB, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create data folder: %w", err)
	}
	path := filepath.Join(dir, "rally.db")
	writer, err = sql.Open("sqlite3_writer", dsn(path, sync, true))
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
	reader, err = sql.Open("sqlite3", dsn(path, sync, false))
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

// checkpoints copies the WAL into the database file from its own
// connection until ctx ends, so the writer seldom has to (see
// writerWALPages): a passive checkpoint runs beside the writer's commits
// without blocking them. It runs ten times a second while the WAL grows
// (a page written by many batches in between is copied once) and backs off
// to once a second when there is nothing to copy.
func checkpoints(ctx context.Context, dir, sync string) {
	db, err := sql.Open("sqlite3", strings.Replace(dsn(filepath.Join(dir, "rally.db"), sync, false), "&_query_only=1", "", 1))
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

// migrationSet is one package's migrations, applied under its name.
type migrationSet struct {
	name string
	fsys fs.FS
}

// dataMigrations are the packages' migration steps written in Go, by
// package and by the .sql file each runs right after, in that file's
// transaction.
var dataMigrations = map[string]map[string]campaigns.DataMigration{
	"campaigns": campaigns.DataMigrations(),
}

// migrate applies, in order, every migration file not yet recorded in
// schema_migrations, each in one transaction with its data migration, if it
// has one, and its bookkeeping row.
func migrate(ctx context.Context, db *sql.DB, sets []migrationSet) (applied int, err error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		package TEXT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL, PRIMARY KEY (package, name))`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	for _, set := range sets {
		names, err := fs.Glob(set.fsys, "*.sql")
		if err != nil {
			return applied, err
		}
		sort.Strings(names)
		for _, name := range names {
			n, err := applyOne(ctx, db, set, name)
			if err != nil {
				return applied, fmt.Errorf("migrate %s/%s: %w", set.name, name, err)
			}
			applied += n
		}
	}
	return applied, nil
}

func applyOne(ctx context.Context, db *sql.DB, set migrationSet, name string) (int, error) {
	body, err := fs.ReadFile(set.fsys, name)
	if err != nil {
		return 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE package = ? AND name = ?`, set.name, name).Scan(&done); err != nil {
		return 0, err
	}
	if done > 0 {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return 0, err
	}
	if step := dataMigrations[set.name][name]; step != nil {
		if err := step(ctx, tx); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (package, name, applied_at) VALUES (?, ?, ?)`, set.name, name, time.Now().UTC()); err != nil {
		return 0, err
	}
	return 1, tx.Commit()
}
