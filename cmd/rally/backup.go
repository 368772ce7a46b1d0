package main

// Backups and restores.
//
// `rally backup FILE` writes, while Rally serves, a consistent and compacted
// copy of the database (VACUUM INTO) that also holds, in its backup_files
// table:
//
//	uploads/...  the uploaded images, as they are in RALLY_DATA/uploads
//	secret       the key of signed links (RALLY_SECRET, or the one kept in
//	             RALLY_DATA/secret): without it every unsubscribe, tracking
//	             and withdraw link already mailed would stop working
//
// so FILE stays one SQLite file that sqlite3 opens, and SQLite's integrity
// check covers the uploads and the secret as well as the data.
//
// `rally restore FILE` takes such a copy, or any copy of Rally's database
// (an older `rally backup`, or what `litestream restore` writes). It refuses
// while a Rally serves from the data folder (serve holds an exclusive lock
// on RALLY_DATA/rally.lock) and when the copy fails SQLite's integrity or
// foreign-key check, and changes nothing then. Otherwise it puts the copy
// in place and keeps what it replaced beside it, named
// *.before-restore-TIME, for the operator to delete once satisfied.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/rallyhq/rally/cmd/rally/database"
)

// Names inside a backup's backup_files table.
const (
	backupDB      = "rally.db"
	backupSecret  = "secret"
	backupUploads = "uploads"
)

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

func cmdBackup(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, file, err := parseWithFile(fs, args, getenv, "usage: rally backup FILE")
	if err != nil {
		return err
	}
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("backup: %s already exists", file)
	}
	writer, _, closeDB, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer closeDB()
	n, err := backup(ctx, writer, cfg, file)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "backed up to %s: the database, %d uploaded files and the secret of signed links\n", file, n)
	return nil
}

// backup writes the copy described above to file, through a temporary
// file renamed into place once complete. It returns how many uploads it
// holds.
func backup(ctx context.Context, writer *sql.DB, cfg config, file string) (int, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".rally-backup-*.db")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	dbPath := tmp.Name()
	tmp.Close()
	os.Remove(dbPath) // VACUUM INTO wants to create it
	defer os.Remove(dbPath)
	if err := database.Backup(ctx, writer, dbPath); err != nil {
		return 0, err
	}
	secret, err := currentSecret(cfg)
	if err != nil {
		return 0, err
	}
	// The copy is nobody else's: one plain connection adds the files.
	db, err := database.OpenCopy(dbPath)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE backup_files (name TEXT PRIMARY KEY, mode INTEGER NOT NULL, data BLOB NOT NULL)`); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	add := func(name string, mode fs.FileMode, data []byte) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO backup_files (name, mode, data) VALUES (?, ?, ?)`, name, int64(mode), data); err != nil {
			return fmt.Errorf("backup %s: %w", name, err)
		}
		return nil
	}
	if secret != nil {
		if err := add(backupSecret, 0o600, secret); err != nil {
			return 0, err
		}
	}
	uploads := 0
	root := filepath.Join(cfg.Data, backupUploads)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		uploads++
		return add(path.Join(backupUploads, filepath.ToSlash(rel)), 0o640, b)
	})
	if err != nil {
		return 0, fmt.Errorf("backup uploads: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := db.Close(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(dbPath, file); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return uploads, nil
}

// currentSecret returns the secret Rally signs links with, without making
// one: RALLY_SECRET, else the data folder's, else nil.
func currentSecret(cfg config) ([]byte, error) {
	if cfg.Secret != "" {
		return []byte(cfg.Secret + "\n"), nil
	}
	b, err := os.ReadFile(filepath.Join(cfg.Data, secretFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	return b, nil
}

func cmdRestore(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, file, err := parseWithFile(fs, args, getenv, "usage: rally restore FILE (an archive of rally backup, or a SQLite database)")
	if err != nil {
		return err
	}
	setupLogging(cfg.LogLevel, stderr)
	done, err := restore(ctx, cfg, file, time.Now())
	if err != nil {
		return err
	}
	for _, line := range done {
		fmt.Fprintln(stderr, line)
	}
	return nil
}

// ErrServing is returned by restore while a Rally serves from the data
// folder.
var ErrServing = errors.New("rally is serving from this data folder: stop it first")

// restore puts the backup in file in place in cfg.Data, as described at
// the top of this file, and returns what it did, line by line.
func restore(ctx context.Context, cfg config, file string, now time.Time) ([]string, error) {
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	unlock, err := lockData(cfg.Data)
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("restore: %w (%s holds %s)", ErrServing, cfg.Data, filepath.Join(cfg.Data, lockFile))
	}
	if err != nil {
		return nil, err
	}
	defer unlock()

	staging, err := os.MkdirTemp(cfg.Data, ".restore-*")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(staging)
	if err := unpack(file, staging); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(staging, backupDB)
	if err := checkCopy(ctx, dbPath); err != nil {
		return nil, fmt.Errorf("restore: %s: %w; nothing was changed", file, err)
	}
	secret, hasUploads, err := takeFiles(ctx, dbPath, staging)
	if err != nil {
		return nil, err
	}

	// The copy is good: put it in place, keeping what it replaces.
	stamp := ".before-restore-" + now.UTC().Format("20060102T150405Z")
	var done []string
	live := database.Path(cfg.Data)
	if _, err := os.Stat(live); err == nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			// The WAL and shared memory of the old database must go with
			// it: beside the restored file they would be read as its own.
			if err := os.Rename(live+suffix, live+stamp+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("restore: move the old database aside: %w", err)
			}
		}
		done = append(done, "the database it replaced is kept as "+live+stamp)
	}
	if err := os.Rename(dbPath, live); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	done = append([]string{"restored the database to " + live}, done...)
	if hasUploads {
		uploads := filepath.Join(cfg.Data, backupUploads)
		if _, err := os.Stat(uploads); err == nil {
			if err := os.Rename(uploads, uploads+stamp); err != nil {
				return done, fmt.Errorf("restore: move the old uploads aside: %w", err)
			}
			done = append(done, "the uploads it replaced are kept in "+uploads+stamp)
		}
		if err := os.Rename(filepath.Join(staging, backupUploads), uploads); err != nil {
			return done, fmt.Errorf("restore uploads: %w", err)
		}
		done = append(done, "restored the uploads to "+uploads)
	}
	if secret != nil {
		path := filepath.Join(cfg.Data, secretFile)
		old, err := os.ReadFile(path)
		if err == nil && !bytes.Equal(old, secret) {
			if err := os.Rename(path, path+stamp); err != nil {
				return done, fmt.Errorf("restore: move the old secret aside: %w", err)
			}
		}
		if err != nil || !bytes.Equal(old, secret) {
			if err := writeSecretFile(path, secret); err != nil {
				return done, err
			}
		}
		note := "restored the secret of signed links to " + path
		if cfg.Secret != "" {
			note += " (RALLY_SECRET is set and still wins over it)"
		}
		done = append(done, note)
	}
	return done, nil
}

// unpack copies file, a SQLite database, to dir/rally.db.
func unpack(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return fmt.Errorf("restore: %s is not a SQLite database, nor a copy of rally backup; nothing was changed", file)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return copyTo(filepath.Join(dir, backupDB), f, 0o600)
}

// takeFiles writes the files a backup holds (see the top of this file)
// under dir, then drops them from the copy at dbPath, and returns the
// secret, if any, and whether it held uploads. A copy without them (a
// Litestream restore, say) holds none.
func takeFiles(ctx context.Context, dbPath, dir string) (secret []byte, uploads bool, err error) {
	db, err := database.OpenCopy(dbPath)
	if err != nil {
		return nil, false, fmt.Errorf("restore: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'backup_files'`).Scan(&n); err != nil {
		return nil, false, fmt.Errorf("restore: %w", err)
	}
	if n == 0 {
		return nil, false, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT name, mode, data FROM backup_files ORDER BY name`)
	if err != nil {
		return nil, false, fmt.Errorf("restore: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var mode int64
		var data []byte
		if err := rows.Scan(&name, &mode, &data); err != nil {
			return nil, false, fmt.Errorf("restore: %w", err)
		}
		name = path.Clean(name)
		switch {
		case name == backupSecret:
			secret = data
		case strings.HasPrefix(name, backupUploads+"/") && fs.ValidPath(name):
			uploads = true
			dst := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
				return nil, false, fmt.Errorf("restore uploads: %w", err)
			}
			if err := copyTo(dst, bytes.NewReader(data), fs.FileMode(mode)&0o660); err != nil {
				return nil, false, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("restore: %w", err)
	}
	rows.Close()
	if _, err := db.ExecContext(ctx, `DROP TABLE backup_files`); err != nil {
		return nil, false, fmt.Errorf("restore: %w", err)
	}
	if err := db.Close(); err != nil {
		return nil, false, fmt.Errorf("restore: %w", err)
	}
	return secret, uploads, nil
}

func copyTo(dst string, r io.Reader, mode fs.FileMode) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("restore %s: %w", filepath.Base(dst), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("restore %s: %w", filepath.Base(dst), err)
	}
	return f.Close()
}

// checkCopy opens the copy (the staging one, nobody else's) and runs SQLite's integrity and
// foreign-key checks on it; it must be a Rally database.
func checkCopy(ctx context.Context, path string) error {
	db, err := database.OpenCopy(path)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := database.Check(ctx, db); err != nil {
		return fmt.Errorf("it fails its integrity check: %w", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
		return errors.New("it is not a Rally database (no migrations recorded)")
	}
	return nil
}

// writeSecretFile writes a restored secret, readable by its owner only.
func writeSecretFile(path string, secret []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, secret, 0o600); err != nil {
		return fmt.Errorf("restore secret: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("restore secret: %w", err)
	}
	return nil
}
