package campaigns

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"sort"
	"testing"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// Tests hash passwords with the cheapest argon2id costs: the production costs
// would only slow them down. TestPasswordHash checks the production format.
func init() {
	passwordParams = argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// mustOpenDB opens a fresh database file with production's DSN options and
// applies the campaigns and notify migrations.
func mustOpenDB(t *testing.T) (writer, reader *sql.DB) {
	t.Helper()
	return mustOpenDBTB(t)
}

// mustOpenDBTB is mustOpenDB for tests and benchmarks alike.
func mustOpenDBTB(t testing.TB) (writer, reader *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rally.db")
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=5000&_synchronous=FULL&_foreign_keys=on"
	writer, err := sql.Open("sqlite3", dsn+"&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	writer.SetMaxOpenConns(1)
	t.Cleanup(func() { writer.Close() })
	for i, fsys := range []fs.FS{Migrations(), notify.Migrations()} {
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
		for _, name := range names {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := writer.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(string(b)); err != nil {
				tx.Rollback()
				t.Fatalf("migration %s: %v", name, err)
			}
			if step := DataMigrations()[name]; step != nil && i == 0 {
				if err := step(context.Background(), tx); err != nil {
					tx.Rollback()
					t.Fatalf("data migration %s: %v", name, err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	reader, err = sql.Open("sqlite3", dsn+"&_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	reader.SetMaxOpenConns(4)
	t.Cleanup(func() { reader.Close() })
	return writer, reader
}

// newTestRenderer parses the embedded templates.
func newTestRenderer(t *testing.T) *templates.Renderer {
	t.Helper()
	rdr, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	return rdr
}
