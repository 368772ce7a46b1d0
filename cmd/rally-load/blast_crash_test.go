package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestKillMidBlastSendsEveryoneOnce sends a blast to a few thousand
// signers through a real `rally serve` into an SMTP server in this
// process, kills Rally with SIGKILL once a third have their mail, restarts
// it, and waits for the blast to finish. Every recipient gets the mail; a
// few may get it twice, but no more than the stated bound (see notify's
// package comment): the messages in flight at the kill, at most one per
// SMTP connection, plus the accepted messages whose outcomes were not yet
// written, at most 2 × 32.
func TestKillMidBlastSendsEveryoneOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Rally and kills it mid-blast")
	}
	const (
		recipients = 4000
		conns      = 4
		bound      = conns + 2*32
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildForTest(ctx, t)
	data := t.TempDir()
	// A relay that takes a millisecond a message keeps messages in flight.
	sink, err := startBlastSink(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := prepareBlast(ctx, bin, data, recipients); err != nil {
		t.Fatal(err)
	}
	cfg := serverConfig{Bin: bin, Data: data, MailRate: "0", SMTPURL: sink.URL(), SMTPConns: fmt.Sprint(conns)}
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
	c := newBlastClient(srv.URL())
	path, err := c.start(ctx, demoSlug)
	if err != nil {
		t.Fatal(err)
	}
	for sink.blast.Load() < recipients/3 {
		if ctx.Err() != nil {
			t.Fatal("the blast did not get a third of the way")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	atKill := sink.blast.Load()
	if atKill >= recipients {
		t.Fatalf("the blast was over (%d sent) before the kill: the test needs it mid-way", atKill)
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
	c.base = srv2.URL() // another port; the session is in the database
	st, err := c.waitSent(ctx, path, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := sink.Received()
	twice := 0
	for addr, n := range got {
		switch {
		case n == 2:
			twice++
		case n > 2:
			t.Errorf("%s got the blast %d times", addr, n)
		}
	}
	if len(got) != recipients {
		t.Errorf("%d recipients got the blast, want %d: %d never got it", len(got), recipients, recipients-len(got))
	}
	t.Logf("killed with %d of %d sent; after the restart: %d recipients, %d got it twice (bound %d), blast %+v",
		atKill, recipients, len(got), twice, bound, st)
	if twice > bound {
		t.Errorf("%d recipients got the blast twice, above the bound of %d", twice, bound)
	}
	if st.Sent != recipients || st.Recipients != recipients {
		t.Errorf("the blast says %+v, want %d sent", st, recipients)
	}
}
