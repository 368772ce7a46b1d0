package main

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rallyhq/rally/campaigns"
)

// The migration runner runs a package's data migration right after its
// .sql file: a database from before campaigns' 006 has its international
// addresses merged when Rally migrates it (and migrating again changes
// nothing).
func TestMigrateRunsDataMigrations(t *testing.T) {
	w, r, err := openDB(t.TempDir(), "full")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
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
	if _, err := migrate(ctx, w, []migrationSet{{"campaigns", before}}); err != nil {
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
		if _, err := migrate(ctx, w, migrationSets()); err != nil {
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
