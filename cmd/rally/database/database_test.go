package database

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// Every connection of both pools gets production's pragmas from the DSN;
// readers cannot write.
func TestOpenSetsThePragmas(t *testing.T) {
	for _, sync := range []string{"full", "normal"} {
		t.Run(sync, func(t *testing.T) {
			w, r, err := Open(t.TempDir(), sync)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			defer r.Close()
			want := map[string]string{"full": "2", "normal": "1"}[sync]
			for _, tt := range []struct {
				db           *sql.DB
				pragma, want string
			}{
				{w, "journal_mode", "wal"}, {w, "foreign_keys", "1"}, {w, "busy_timeout", "5000"},
				{w, "synchronous", want}, {w, "wal_autocheckpoint", "4000"}, {w, "cache_size", "-10000"},
				{w, "query_only", "0"}, {w, "secure_delete", "2"},
				{r, "journal_mode", "wal"}, {r, "foreign_keys", "1"}, {r, "busy_timeout", "5000"},
				{r, "synchronous", want}, {r, "query_only", "1"},
			} {
				var got string
				if err := tt.db.QueryRow(`PRAGMA ` + tt.pragma).Scan(&got); err != nil || got != tt.want {
					t.Errorf("PRAGMA %s on the %s = %q, %v; want %q", tt.pragma, pool(tt.db, w), got, err, tt.want)
				}
			}
			if _, err := r.Exec(`CREATE TABLE t (id INTEGER)`); err == nil {
				t.Errorf("a reader created a table")
			}
		})
	}
}

func pool(db, writer *sql.DB) string {
	if db == writer {
		return "writer"
	}
	return "reader"
}

// The checkpointer copies the WAL into the database file while writes come
// in, so the writer, which would only do it at 4,000 pages, need not.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	dir := t.TempDir()
	w, r, err := Open(dir, "full")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	if _, err := w.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { Checkpoints(ctx, dir, "full"); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	// About 400 KB in a few hundred pages: far below the writer's own
	// threshold, so only the checkpointer can put it in the database file.
	for range 200 {
		if _, err := w.Exec(`INSERT INTO t (v) VALUES (?)`, strings.Repeat("x", 2000)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fi, err := os.Stat(Path(dir))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= 400_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file of %d bytes after 5 s: the WAL was not copied into it", fi.Size())
		}
	}
}

// Each migration file is applied once, in name order, in one transaction
// with its Go step and its bookkeeping row: a file or step that fails
// leaves nothing of itself, and the next run starts again from it.
func TestMigrateAppliesEachFileOnceAndWhole(t *testing.T) {
	ctx := context.Background()
	w, _ := openTest(t)
	files := fstest.MapFS{
		"001_a.sql": {Data: []byte(`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT NOT NULL);`)},
		"002_b.sql": {Data: []byte(`CREATE TABLE b (id INTEGER PRIMARY KEY); INSERT INTO a (v) VALUES ('from 002');`)},
		// Fails half-way: its first table must not stay.
		"003_c.sql": {Data: []byte(`CREATE TABLE c (id INTEGER); INSERT INTO nowhere VALUES (1);`)},
	}
	var stepRuns int
	set := Set{Name: "pkg", FS: files, Steps: map[string]func(context.Context, *sql.Tx) error{
		"002_b.sql": func(ctx context.Context, tx *sql.Tx) error {
			stepRuns++
			// The step sees its file's work, in the same transaction.
			_, err := tx.ExecContext(ctx, `INSERT INTO b (id) SELECT id FROM a`)
			return err
		},
	}}
	n, err := Migrate(ctx, w, set)
	if err == nil || !strings.Contains(err.Error(), "pkg/003_c.sql") {
		t.Fatalf("Migrate with a broken 003 = %d, %v; want an error naming pkg/003_c.sql", n, err)
	}
	if n != 2 {
		t.Errorf("applied %d files before the broken one, want 2", n)
	}
	var c int
	if err := w.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'c'`).Scan(&c); err != nil || c != 0 {
		t.Errorf("table c of the failed file: %d, %v; want none", c, err)
	}

	files["003_c.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE c (id INTEGER);`)}
	files["004_d.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE d (id INTEGER);`)}
	set.Steps["004_d.sql"] = func(context.Context, *sql.Tx) error { return errors.New("step refused") }
	n, err = Migrate(ctx, w, set)
	if err == nil || !strings.Contains(err.Error(), "step refused") || n != 1 {
		t.Fatalf("Migrate with a failing step = %d, %v; want 003 applied, then the step's error", n, err)
	}
	if err := w.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'd'`).Scan(&c); err != nil || c != 0 {
		t.Errorf("table d of the file whose step failed: %d, %v; want none", c, err)
	}

	delete(set.Steps, "004_d.sql")
	if n, err = Migrate(ctx, w, set); err != nil || n != 1 {
		t.Fatalf("Migrate once fixed = %d, %v; want 1 (004)", n, err)
	}
	if n, err = Migrate(ctx, w, set); err != nil || n != 0 {
		t.Fatalf("Migrate again = %d, %v; want 0", n, err)
	}
	if stepRuns != 1 {
		t.Errorf("the step of 002 ran %d times, want once", stepRuns)
	}
	var rows, copied int
	if err := w.QueryRow(`SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b)`).Scan(&rows, &copied); err != nil || rows != 1 || copied != 1 {
		t.Errorf("rows of a and b = %d, %d, %v; want 1 and 1", rows, copied, err)
	}
	var names []string
	rs, err := w.Query(`SELECT package || '/' || name FROM schema_migrations ORDER BY applied_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		names = append(names, s)
	}
	if got, want := strings.Join(names, " "), "pkg/001_a.sql pkg/002_b.sql pkg/003_c.sql pkg/004_d.sql"; got != want {
		t.Errorf("schema_migrations = %s, want %s", got, want)
	}
}

// Check says ok of a sound database and names a row whose foreign key
// points nowhere.
func TestCheckFindsBrokenForeignKeys(t *testing.T) {
	ctx := context.Background()
	w, r := openTest(t, Set{Name: "pkg", FS: fstest.MapFS{"001.sql": {Data: []byte(
		`CREATE TABLE parents (id INTEGER PRIMARY KEY); CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parents (id));
		INSERT INTO parents VALUES (1); INSERT INTO children VALUES (1, 1);`)}}})
	if err := Check(ctx, r); err != nil {
		t.Fatalf("Check of a sound database = %v", err)
	}
	if _, err := w.Exec(`PRAGMA foreign_keys = off`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO children VALUES (2, 7)`); err != nil {
		t.Fatal(err)
	}
	err := Check(ctx, r)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "children row 2 refers to a missing parents") {
		t.Errorf("Check with a dangling reference = %v; want ErrDamaged naming children row 2", err)
	}
}

// openTest is dbtest.Open, which this package's own tests cannot import.
func openTest(t *testing.T, sets ...Set) (writer, reader *sql.DB) {
	t.Helper()
	writer, reader, err := Open(t.TempDir(), "full")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		reader.Close()
		writer.Close()
	})
	if len(sets) > 0 {
		if _, err := Migrate(context.Background(), writer, sets...); err != nil {
			t.Fatal(err)
		}
	}
	return writer, reader
}
