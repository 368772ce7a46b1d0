package database

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"time"
)

// Set is one package's migrations: numbered .sql files, applied in the
// order of their names and recorded under the package's name.
type Set struct {
	// Name is the package, as schema_migrations records it.
	Name string
	// FS holds the .sql files at its root.
	FS fs.FS
	// Steps are migration steps written in Go, by the name of the .sql
	// file each one runs right after, in that file's transaction.
	Steps map[string]func(ctx context.Context, tx *sql.Tx) error
}

// Migrate applies, set by set in the order given, every migration file not
// yet recorded in schema_migrations, each in one transaction with its Go
// step, if it has one, and its bookkeeping row. It returns how many files
// it applied.
func Migrate(ctx context.Context, db *sql.DB, sets ...Set) (applied int, err error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		package TEXT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL, PRIMARY KEY (package, name))`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	for _, set := range sets {
		names, err := fs.Glob(set.FS, "*.sql")
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", set.Name, err)
		}
		sort.Strings(names)
		for _, name := range names {
			n, err := applyOne(ctx, db, set, name)
			if err != nil {
				return applied, fmt.Errorf("migrate %s/%s: %w", set.Name, name, err)
			}
			applied += n
		}
	}
	return applied, nil
}

func applyOne(ctx context.Context, db *sql.DB, set Set, name string) (int, error) {
	body, err := fs.ReadFile(set.FS, name)
	if err != nil {
		return 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE package = ? AND name = ?`, set.Name, name).Scan(&done); err != nil {
		return 0, err
	}
	if done > 0 {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return 0, err
	}
	if step := set.Steps[name]; step != nil {
		if err := step(ctx, tx); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (package, name, applied_at) VALUES (?, ?, ?)`, set.Name, name, time.Now().UTC()); err != nil {
		return 0, err
	}
	return 1, tx.Commit()
}
