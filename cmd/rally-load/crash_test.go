package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestKillLosesNothingAcknowledged signs under load, kills the server with
// SIGKILL while requests are in flight, restarts it on the same data, and
// checks that every signing that got a success page is on disk with its
// confirmation mail still queued or sent, and that the database is sound.
func TestKillLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Rally and kills it under load")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, data := migratedForTest(ctx, t)
	// A slow mail rate keeps most confirmation mails queued at the kill.
	cfg := serverConfig{Bin: bin, Data: data, Sync: "full", MailRate: "50"}
	srv, err := startRally(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = srv.Kill()
		if t.Failed() {
			t.Logf("server log:\n%s", srv.Log())
		}
	}()

	l := newLoader(srv.URL(), demoSlug, 32, 5*time.Second, false)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	done := make(chan *result, 1)
	go func() {
		done <- runLoad(loadCtx, loadOpts{Duration: 30 * time.Second, Conc: 32, MaxRequests: 1_000_000}, l.sign)
	}()
	// Load for about two seconds and at least 150 acknowledged signings
	// (a slow, shared machine may need longer), then kill mid-flight.
	begin := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	for time.Since(begin) < 2*time.Second || l.acks.Load() < 150 {
		if time.Since(begin) > 20*time.Second {
			break
		}
		<-tick.C
	}
	tick.Stop()
	inFlight := l.inFlight.Load()
	if err := srv.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	stopLoad()
	r := <-done
	total := r.total()
	t.Logf("killed after %s with %d requests in flight: %d signings acknowledged, errors %v",
		time.Since(begin).Round(time.Millisecond), inFlight, len(r.Signed), total.errs)
	if inFlight == 0 {
		t.Errorf("no request was in flight at the kill")
	}
	if len(r.Signed) <= 100 {
		t.Fatalf("only %d signings acknowledged before the kill; want more than 100 for the test to mean something", len(r.Signed))
	}

	srv2, err := startRally(ctx, cfg)
	if err != nil {
		t.Fatalf("restart after the kill: %v", err)
	}
	defer func() {
		if err := srv2.Stop(30 * time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()

	db, err := openReader(data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := integrityCheck(ctx, db); err != nil || got != "ok" {
		t.Errorf("PRAGMA integrity_check = %q, %v; want ok", got, err)
	}
	rows, err := db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Errorf("PRAGMA foreign_key_check found violations")
	}
	rows.Close()

	signers, err := readSigners(ctx, db, l.run)
	if err != nil {
		t.Fatal(err)
	}
	// The outbox before the files: a mail the restarted worker marks sent
	// after this read was queued when read, and one read as sent has its
	// file already (the dev outbox syncs it before the row says sent).
	mails, err := readOutbox(ctx, db, l.run)
	if err != nil {
		t.Fatal(err)
	}
	files, err := mailFileIDs(filepath.Join(data, "mail"))
	if err != nil {
		t.Fatal(err)
	}
	var missing, unmailed, queued, sent int
	for _, n := range r.Signed {
		email := l.email(n)
		if _, ok := signers[n]; !ok {
			missing++
			if missing <= 5 {
				t.Errorf("%s got a success page but has no signature after the kill", email)
			}
		}
		var found bool
		for _, m := range mails[n] {
			switch {
			case m.Status == "queued":
				queued++
				found = true
			case m.Status == "sent" && files[m.ID]:
				sent++
				found = true
			case m.Status == "sent":
				t.Errorf("%s: outbox mail %d is marked sent but its .eml file is missing", email, m.ID)
			}
		}
		if !found {
			unmailed++
			if unmailed <= 5 {
				t.Errorf("%s got a success page but its confirmation mail is neither queued nor sent: %+v", email, mails[n])
			}
		}
	}
	if missing > 0 || unmailed > 0 {
		t.Fatalf("of %d acknowledged signings, %d lost their signature and %d their mail", len(r.Signed), missing, unmailed)
	}
	t.Logf("all %d acknowledged signings on disk (%d more committed whose answer was cut off); mails: %d queued, %d sent",
		len(r.Signed), len(signers)-len(r.Signed), queued, sent)
}
