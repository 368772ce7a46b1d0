package main

import (
	"context"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/cmd/rally/database/dbtest"
)

// The migration runner runs a package's data migration right after its
// .sql file: a database from before campaigns' 006 has its international
// addresses merged when Rally migrates it (and migrating again changes
// nothing).
func TestMigrateRunsDataMigrations(t *testing.T) {
	w, _ := dbtest.Open(t)
	ctx := context.Background()
	// The campaigns migrations before 006, as an older Rally had them.
	before := fstest.MapFS{}
	names, err := fs.Glob(campaigns.Migrations(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name < "006" {
			b, _ := fs.ReadFile(campaigns.Migrations(), name)
			before[name] = &fstest.MapFile{Data: b}
		}
	}
	if _, err := database.Migrate(ctx, w, database.Set{Name: "campaigns", FS: before, Steps: campaigns.DataMigrations()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, q := range []string{
		`INSERT INTO organisers (id, name, email, email_key, password_hash, created_at, updated_at) VALUES (1, 'O', 'o@example.org', 'o@example.org', 'x', ?1, ?1)`,
		`INSERT INTO causes (id, organiser_id, slug, title, status, signature_count, created_at, updated_at) VALUES (1, 1, 'one', 'One', 'published', 2, ?1, ?1)`,
		`INSERT INTO signatures (id, cause_id, email, email_key, name, token_hash, token_expires_at, confirmed_at, created_at) VALUES
			(1, 1, 'user@exämple.com', 'user@exämple.com', 'U', 'h', ?1, ?1, ?1),
			(2, 1, 'user@xn--exmple-cua.com', 'user@xn--exmple-cua.com', 'P', 'h', ?1, ?1, ?1)`,
	} {
		if _, err := w.Exec(q, now); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for range 2 {
		if _, err := database.Migrate(ctx, w, migrationSets()...); err != nil {
			t.Fatal(err)
		}
	}
	var count, keys int
	if err := w.QueryRow(`SELECT signature_count, (SELECT count(DISTINCT email_key) FROM signatures) FROM causes`).Scan(&count, &keys); err != nil {
		t.Fatal(err)
	}
	if count != 1 || keys != 1 {
		t.Errorf("after migrating: count %d, distinct keys %d; want 1 and 1", count, keys)
	}
}

// A database the migration runner left before it moved to
// cmd/rally/database (testdata/old-runner.sql) is taken as it is: no file
// it recorded runs again (each would fail on tables that exist), only files
// added since are applied, and its data stay whole.
func TestMigrateKeepsAnOldRunnersDatabase(t *testing.T) {
	ctx := context.Background()
	w, r := dbtest.Open(t)
	dump, err := os.ReadFile("testdata/old-runner.sql")
	if err != nil {
		t.Fatal(err)
	}
	// The dump turns foreign keys off for its own load.
	if _, err := w.Exec(string(dump) + `; PRAGMA foreign_keys = ON`); err != nil {
		t.Fatal(err)
	}
	recorded := func() map[string]string {
		t.Helper()
		rows, err := w.Query(`SELECT package, name, applied_at FROM schema_migrations`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var pkg, name, at string
			if err := rows.Scan(&pkg, &name, &at); err != nil {
				t.Fatal(err)
			}
			out[pkg+"/"+name] = at
		}
		return out
	}
	before := recorded()
	if len(before) != 9 {
		t.Fatalf("the old database records %d migrations, want 9", len(before))
	}
	var files int
	for _, set := range migrationSets() {
		names, err := fs.Glob(set.FS, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		files += len(names)
	}
	n, err := database.Migrate(ctx, w, migrationSets()...)
	if err != nil {
		t.Fatalf("migrating the old database: %v", err)
	}
	if want := files - len(before); n != want {
		t.Errorf("applied %d files, want %d (those added since)", n, want)
	}
	after := recorded()
	for k, at := range before {
		if after[k] != at {
			t.Errorf("%s recorded at %q, now %q: it ran again", k, at, after[k])
		}
	}
	var slug string
	var signatures, mails int
	if err := r.QueryRow(`SELECT slug, (SELECT count(*) FROM signatures), (SELECT count(*) FROM outbox) FROM causes`).Scan(&slug, &signatures, &mails); err != nil {
		t.Fatal(err)
	}
	if slug != "safe-streets-around-our-schools" || signatures != 1 || mails != 1 {
		t.Errorf("after migrating: cause %q, %d signatures, %d mails; want the demo cause, 1 and 1", slug, signatures, mails)
	}
	if err := database.Check(ctx, r); err != nil {
		t.Error(err)
	}
}
