package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/cmd/rally/database/dbtest"
	"github.com/rallyhq/rally/notify"
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
	// The store is today's: it runs on a database brought up to date.
	applyAfter(t, w, "003_signatures_keep_their_email.sql")
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
// one by one, each with its data migration, with apply.
func migrationDB(t *testing.T) (*sql.DB, func(name string)) {
	t.Helper()
	w, _ := dbtest.Open(t)
	return w, func(name string) {
		t.Helper()
		b, err := fs.ReadFile(Migrations(), name)
		if err != nil {
			t.Fatal(err)
		}
		one := fstest.MapFS{name: {Data: b}}
		if _, err := database.Migrate(context.Background(), w, database.Set{Name: "campaigns", FS: one, Steps: DataMigrations()}); err != nil {
			t.Fatal(err)
		}
	}
}

// applyAfter applies, in order, the package's migrations that come after
// the named one.
func applyAfter(t *testing.T, w *sql.DB, name string) {
	t.Helper()
	names, err := fs.Glob(Migrations(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	rest := fstest.MapFS{}
	for _, n := range names {
		if n > name {
			b, err := fs.ReadFile(Migrations(), n)
			if err != nil {
				t.Fatal(err)
			}
			rest[n] = &fstest.MapFile{Data: b}
		}
	}
	if _, err := database.Migrate(context.Background(), w, database.Set{Name: "campaigns", FS: rest, Steps: DataMigrations()}); err != nil {
		t.Fatal(err)
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

// A database from before international addresses had one key (migration
// 006), holding the three forms of one address as three people, comes out
// with one person: one supporter (every reference to the others moved to
// it), one counted signature per cause (the first confirmed), the counts
// brought down to match, and organisers' accounts all kept.
func TestEmailKeysMigrationMergesForms(t *testing.T) {
	w, apply := migrationDB(t)
	names, err := fs.Glob(Migrations(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name < "006" {
			apply(name)
		}
	}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	const (
		unicode    = "user@exämple.com"
		punycode   = "user@xn--exmple-cua.com"
		decomposed = "User@exa\u0308mple.com"
	)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// As the old NormalizeEmail and EmailKey made them: domain
		// lower-cased, nothing else.
		{`INSERT INTO organisers (id, name, email, email_key, password_hash, email_confirmed_at, created_at, updated_at) VALUES
			(1, 'O', 'o@example.org', 'o@example.org', 'x', ?1, ?1, ?1),
			(2, 'Boss U', 'boss@exämple.com', 'boss@exämple.com', 'x', ?1, ?1, ?1),
			(3, 'Boss P', 'boss@xn--exmple-cua.com', 'boss@xn--exmple-cua.com', 'x', ?2, ?1, ?1),
			(4, 'CEO', 'ceo@exa` + "\u0308" + `mple.com', 'ceo@exa` + "\u0308" + `mple.com', 'x', NULL, ?1, ?1)`, []any{at(0), at(1)}},
		{`INSERT INTO organiser_signups (token_hash, name, email, email_key, password_hash, created_at, expires_at) VALUES
			('s1', 'Newcomer', 'new@exa` + "\u0308" + `mple.com', 'new@exa` + "\u0308" + `mple.com', 'x', ?1, ?2)`, []any{at(0), at(48)}},
		{`INSERT INTO causes (id, organiser_id, slug, title, status, signature_count, created_at, updated_at) VALUES
			(1, 1, 'one', 'One', 'published', 4, ?1, ?1), (2, 1, 'two', 'Two', 'published', 1, ?1, ?1)`, []any{at(0)}},
		{`INSERT INTO supporters (id, email, email_key, name, created_at, updated_at) VALUES
			(7, ?1, ?1, 'U', ?4, ?4), (8, ?2, ?2, 'P', ?4, ?4), (9, ?3, lower(?3), 'D', ?4, ?4), (10, 'bob@example.org', 'bob@example.org', 'B', ?4, ?4)`,
			[]any{unicode, punycode, decomposed, at(0)}},
		{`INSERT INTO signatures (id, cause_id, supporter_id, email, email_key, name, token_hash, token_expires_at, confirmed_at, created_at) VALUES
			(100, 1, 7, ?1, ?1, 'U', 'h', ?5, ?7, ?4),
			(101, 1, 8, ?2, ?2, 'P', 'h', ?5, ?6, ?4),
			(102, 1, 9, ?3, lower(?3), 'D', 'h', ?5, ?8, ?4),
			(103, 1, 10, 'bob@example.org', 'bob@example.org', 'B', 'h', ?5, ?6, ?4),
			(104, 1, NULL, ?1, ?1, 'U again', 'h', ?5, NULL, ?4),
			(200, 2, 7, ?1, ?1, 'U', 'h', ?5, ?8, ?4)`,
			[]any{unicode, punycode, decomposed, at(0), at(400), at(1), at(2), at(3)}},
		// Another package's table that refers to supporters.
		{`CREATE TABLE gifts (id INTEGER PRIMARY KEY, supporter_id INTEGER REFERENCES supporters (id))`, nil},
		{`INSERT INTO gifts (id, supporter_id) VALUES (1, 8), (2, 9), (3, 10)`, nil},
	} {
		if _, err := w.Exec(q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}

	apply("006_email_keys_and_image_owners.sql")

	query := func(q string) []string {
		t.Helper()
		rows, err := w.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %q\nwant %q", what, got, want)
		}
	}
	// The one confirmed first (101) stays counted on cause 1; on cause 2 the
	// only one stays.
	check("signatures (id, supporter, email, key, counted)",
		query(`SELECT id, ' ', supporter_id, ' ', email, ' ', email_key, ' ', confirmed_at IS NOT NULL FROM signatures ORDER BY id`),
		"100 7 "+punycode+" "+punycode+" 0",
		"101 7 "+punycode+" "+punycode+" 1",
		"102 7 User@xn--exmple-cua.com "+punycode+" 0", // the local part as typed
		"103 10 bob@example.org bob@example.org 1",
		"104 <nil> "+punycode+" "+punycode+" 0",
		"200 7 "+punycode+" "+punycode+" 1")
	check("counts", query(`SELECT id, ' ', signature_count FROM causes ORDER BY id`), "1 2", "2 1")
	check("supporters", query(`SELECT id, ' ', email, ' ', email_key FROM supporters ORDER BY id`),
		"7 "+punycode+" "+punycode, "10 bob@example.org bob@example.org")
	check("gifts", query(`SELECT id, ' ', supporter_id FROM gifts ORDER BY id`), "1 7", "2 7", "3 10")
	// Organiser 3 held the new key already and keeps it; organiser 2 keeps
	// their account and old key; organiser 4's address moves.
	check("organisers", query(`SELECT id, ' ', email, ' ', email_key FROM organisers ORDER BY id`),
		"1 o@example.org o@example.org",
		"2 boss@exämple.com boss@exämple.com",
		"3 boss@xn--exmple-cua.com boss@xn--exmple-cua.com",
		"4 ceo@xn--exmple-cua.com ceo@xn--exmple-cua.com")
	check("sign-ups", query(`SELECT token_hash, ' ', email, ' ', email_key FROM organiser_signups`),
		"s1 new@xn--exmple-cua.com new@xn--exmple-cua.com")

	// The merged database keeps its rules, and an organiser logs in with
	// any form of their address (with today's store, on a database brought
	// up to date).
	applyAfter(t, w, "006_email_keys_and_image_owners.sql")
	s := NewStore(w, w)
	defer s.Close()
	for _, typed := range []string{"ceo@exämple.com", "CEO@xn--exmple-cua.com", "ceo@exa\u0308mple.com"} {
		n, err := notify.NormalizeEmail(typed)
		if err != nil {
			t.Fatal(err)
		}
		if o, _, err := s.organiserCredentials(context.Background(), notify.EmailKey(n)); err != nil || o.ID != 4 {
			t.Errorf("organiser found by %q = %d, %v; want 4", typed, o.ID, err)
		}
	}
	if st, err := s.Stats(context.Background(), 1); err != nil || st.Confirmed != 2 || st.Pending != 3 {
		t.Errorf("stats of cause 1 = %+v, %v; want 2 confirmed, 3 pending", st, err)
	}
	if _, err := w.Exec(`UPDATE signatures SET confirmed_at = ?1 WHERE id = 100`, at(9)); !isUnique(err) {
		t.Errorf("counting a merged signature again: err = %v, want a UNIQUE violation", err)
	}
}
