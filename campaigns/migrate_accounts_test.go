package campaigns

import (
	"context"
	"testing"
	"time"
)

// Migration 005 rebuilds the sessions table with an id: organisers signed in
// before it stay signed in, and their sessions show on the account page.
func TestAccountSecurityMigrationKeepsSessions(t *testing.T) {
	w, apply := migrationDB(t)
	for _, name := range []string{"001_organisers.sql", "002_causes.sql", "003_signatures_keep_their_email.sql", "004_signing_appends_only.sql"} {
		apply(name)
	}
	created := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	token, hash := NewToken()
	if _, err := w.Exec(`INSERT INTO organisers (id, name, email, email_key, password_hash, created_at, updated_at)
		VALUES (1, 'Ada', 'ada@example.org', 'ada@example.org', 'x', ?, ?)`, created, created); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO sessions (token_hash, organiser_id, created_at, expires_at) VALUES (?, 1, ?, ?)`,
		hash, created, created.Add(sessionTTL)); err != nil {
		t.Fatal(err)
	}

	apply("005_account_security.sql")

	s := NewStore(w, w)
	t.Cleanup(s.Close)
	s.SetClock(func() time.Time { return created.Add(time.Hour) })
	ctx := context.Background()
	o, cur, err := s.sessionOrganiser(ctx, token)
	if err != nil || o.ID != 1 || cur.ID == 0 || !cur.LastSeenAt.Equal(created) {
		t.Fatalf("session after the migration: %+v %+v %v; want Ada's, last seen when it started", o, cur, err)
	}
	sessions, err := s.ListSessions(ctx, 1)
	if err != nil || len(sessions) != 1 || sessions[0].ID != cur.ID || !sessions[0].CreatedAt.Equal(created) {
		t.Fatalf("ListSessions = %+v, %v", sessions, err)
	}
	if err := s.EndSession(ctx, 1, cur.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.sessionOrganiser(ctx, token); err == nil {
		t.Error("the ended session still signs in")
	}
}
