package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"
)

// A database made before signatures kept their email (migration 003) keeps
// every signature, with the address of its supporter, and the rules that
// come with the new columns hold on it.
func TestSignaturesKeepTheirEmailMigration(t *testing.T) {
	w, apply := migrationDB(t)
	apply("001_organisers.sql")
	apply("002_causes.sql")
	now := time.Now().UTC()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO organisers (id, email, email_key, name, password_hash, created_at, updated_at)
		VALUES (1, 'o@example.org', 'o@example.org', 'O', 'x', ?, ?)`, now, now)
	exec(`INSERT INTO causes (id, organiser_id, slug, title, status, signature_count, created_at, updated_at)
		VALUES (1, 1, 'old', 'Old', 'published', 1, ?, ?)`, now, now)
	exec(`INSERT INTO supporters (id, email, email_key, name, created_at, updated_at) VALUES
		(7, 'Ada.L+x@Example.org', 'ada.l@example.org', 'Ada', ?, ?), (8, 'bob@example.org', 'bob@example.org', 'Bob', ?, ?)`,
		now, now, now, now)
	exec(`INSERT INTO signatures (id, cause_id, supporter_id, name, token_hash, token_expires_at, confirmed_at, created_at) VALUES
		(100, 1, 7, 'Ada L', 'h1', ?, ?, ?), (101, 1, 8, 'Bob', 'h2', ?, NULL, ?)`, now, now, now, now, now)

	apply("003_signatures_keep_their_email.sql")

	rows, err := w.Query(`SELECT id, supporter_id, email, email_key, name, confirmed_at IS NOT NULL FROM signatures ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, sup int64
		var email, key, name string
		var confirmed bool
		if err := rows.Scan(&id, &sup, &email, &key, &name, &confirmed); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmtRow(id, sup, email, key, name, confirmed))
	}
	rows.Close()
	want := []string{fmtRow(100, 7, "Ada.L+x@Example.org", "ada.l@example.org", "Ada L", true),
		fmtRow(101, 8, "bob@example.org", "bob@example.org", "Bob", false)}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("signatures after the migration = %q, want %q", got, want)
	}
	// One signature per address per cause, now on the signature itself.
	if _, err := w.Exec(`INSERT INTO signatures (id, cause_id, email, email_key, name, token_hash, token_expires_at, created_at)
		VALUES (102, 1, 'ada.l@example.org', 'ada.l@example.org', 'Ada', 'h3', ?, ?)`, now, now); !isUnique(err) {
		t.Errorf("a second signature with the same key: err = %v, want a UNIQUE violation", err)
	}
	s := NewStore(w, w)
	defer s.Close()
	var idx int
	if err := w.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'signatures'
		AND name IN ('signatures_cause', 'signatures_cause_confirmed', 'signatures_supporter')`).Scan(&idx); err != nil || idx != 3 {
		t.Errorf("indexes on signatures = %d, %v; want 3", idx, err)
	}
	st, err := s.Stats(context.Background(), 1)
	if err != nil || st.Confirmed != 1 || st.Pending != 1 {
		t.Errorf("stats = %+v, %v; want 1 confirmed, 1 pending", st, err)
	}
}

// migrationDB opens an empty database for applying the package's migrations
// one by one, each in its own transaction, with apply.
func migrationDB(t *testing.T) (*sql.DB, func(name string)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rally.db")
	w, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	w.SetMaxOpenConns(1)
	return w, func(name string) {
		t.Helper()
		b, err := fs.ReadFile(Migrations(), name)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func fmtRow(id, sup int64, email, key, name string, confirmed bool) string {
	return fmt.Sprint(id, " ", sup, " ", email, " ", key, " ", name, " ", confirmed)
}

// A database made before signing only appended (migration 004) keeps every
// signature, and from then on only confirmed signatures are one per person.
func TestSigningAppendsOnlyMigration(t *testing.T) {
	w, apply := migrationDB(t)
	for _, name := range []string{"001_organisers.sql", "002_causes.sql", "003_signatures_keep_their_email.sql"} {
		apply(name)
	}
	now := time.Now().UTC()
	for _, q := range []string{
		`INSERT INTO organisers (id, email, email_key, name, password_hash, created_at, updated_at)
			VALUES (1, 'o@example.org', 'o@example.org', 'O', 'x', ?1, ?1)`,
		`INSERT INTO causes (id, organiser_id, slug, title, status, signature_count, created_at, updated_at)
			VALUES (1, 1, 'old', 'Old', 'published', 1, ?1, ?1)`,
		`INSERT INTO supporters (id, email, email_key, name, created_at, updated_at) VALUES (7, 'ada@example.org', 'ada@example.org', 'Ada', ?1, ?1)`,
		`INSERT INTO signatures (id, cause_id, supporter_id, email, email_key, name, token_hash, token_expires_at, confirmed_at, created_at) VALUES
			(100, 1, 7, 'ada@example.org', 'ada@example.org', 'Ada', 'h1', ?1, ?1, ?1),
			(101, 1, NULL, 'bob@example.org', 'bob@example.org', 'Bob', 'h2', ?1, NULL, ?1)`,
	} {
		if _, err := w.Exec(q, now); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	apply("004_signing_appends_only.sql")
	var n, confirmed int
	if err := w.QueryRow(`SELECT count(*), count(confirmed_at) FROM signatures WHERE id IN (100, 101)`).Scan(&n, &confirmed); err != nil || n != 2 || confirmed != 1 {
		t.Fatalf("signatures after the migration = %d (%d confirmed), %v; want 2 (1)", n, confirmed, err)
	}
	// A second pending signing by Bob is taken; a second confirmed signature
	// by Ada is not.
	if _, err := w.Exec(`INSERT INTO signatures (id, cause_id, email, email_key, name, token_hash, token_expires_at, created_at)
		VALUES (102, 1, 'bob@example.org', 'bob@example.org', 'Bob', 'h3', ?1, ?1)`, now); err != nil {
		t.Errorf("a second pending signing: %v", err)
	}
	if _, err := w.Exec(`INSERT INTO signatures (id, cause_id, email, email_key, name, token_hash, token_expires_at, confirmed_at, created_at)
		VALUES (103, 1, 'ada@example.org', 'ada@example.org', 'Ada', 'h4', ?1, ?1, ?1)`, now); !isUnique(err) {
		t.Errorf("a second confirmed signature: err = %v, want a UNIQUE violation", err)
	}
	var idx int
	if err := w.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'signatures'`).Scan(&idx); err != nil || idx != 4 {
		t.Errorf("indexes on signatures = %d, %v; want 4 (cause, confirmed key, confirmed order, supporter)", idx, err)
	}
}
