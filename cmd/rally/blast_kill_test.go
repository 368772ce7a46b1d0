package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// countingRelay is an SMTP server in the test process that takes every
// message after a short delay, as a relay's work would, and counts what
// each seeded signer (rally seed's seed-… addresses) received.
type countingRelay struct {
	addr  string
	srv   *smtp.Server
	delay time.Duration
	blast atomic.Int64 // messages to the seeded signers: the blast's

	mu      sync.Mutex
	perRcpt map[string]int
}

func startCountingRelay(t *testing.T, delay time.Duration) *countingRelay {
	t.Helper()
	r := &countingRelay{delay: delay, perRcpt: map[string]int{}}
	r.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &countingSession{r: r}, nil }))
	r.srv.Domain = "localhost"
	// A killed Rally resets its connections: not worth a line each.
	r.srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	go func() { _ = r.srv.Serve(l) }()
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func (r *countingRelay) received() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.perRcpt))
	for k, v := range r.perRcpt {
		out[k] = v
	}
	return out
}

type countingSession struct {
	r  *countingRelay
	to []string
}

func (s *countingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *countingSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *countingSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	time.Sleep(s.r.delay)
	s.r.mu.Lock()
	for _, to := range s.to {
		if strings.HasPrefix(to, "seed-") {
			s.r.perRcpt[to]++
			s.r.blast.Add(1)
		}
	}
	s.r.mu.Unlock()
	return nil
}
func (s *countingSession) Reset()        { s.to = s.to[:0] }
func (s *countingSession) Logout() error { return nil }

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
		email      = "kill-admin@example.org"
		password   = "a long enough password"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildRally(ctx, t)
	data := filepath.Join(t.TempDir(), "data")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append(args, "--data", data, "--log-level", "warn")...)
		cmd.Env = append(os.Environ(), "RALLY_PASSWORD="+password, "RALLY_SMTP_URL=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rally %s: %v\n%s", args[0], err, out)
		}
	}
	// The demo cause and its confirmed signers who asked for news, then an
	// admin to send to them.
	run("seed", "--signatures", fmt.Sprint(recipients), "--batch", fmt.Sprint(recipients))
	run("organiser", "add", "--email", email, "--name", "Kill Admin", "--admin")

	// A relay that takes a millisecond a message keeps messages in flight.
	relay := startCountingRelay(t, time.Millisecond)
	flags := []string{"--smtp-url", "smtp://" + relay.addr + "?tls=none", "--smtp-conns", fmt.Sprint(conns), "--mail-rate", "0"}
	srv := startRally(ctx, t, bin, data, flags...)

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := srv.url
	post := func(path string, form url.Values) string {
		t.Helper()
		res, err := client.PostForm(base+path, form)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: status %d", path, res.StatusCode)
		}
		return res.Header.Get("Location")
	}
	post("/login", url.Values{"email": {email}, "password": {password}})
	path := post("/campaigns/"+demoSlug+"/blasts", url.Values{"subject": {"{first_name|Friend}, the vote is on Monday"},
		"body": {"Write to your councillor before the vote."}, "cta_label": {"Write now"}, "cta_url": {"https://example.org/write"}})
	post(path+"/send", url.Values{})

	for relay.blast.Load() < recipients/3 {
		if ctx.Err() != nil {
			t.Fatal("the blast did not get a third of the way")
		}
		time.Sleep(2 * time.Millisecond)
	}
	srv.kill(t)
	atKill := relay.blast.Load()
	if atKill >= recipients {
		t.Fatalf("the blast was over (%d sent) before the kill: the test needs it mid-way", atKill)
	}

	// Another port; the session is in the database, the cookie kept by host.
	base = startRally(ctx, t, bin, data, flags...).url
	var st struct {
		Status     string `json:"status"`
		Recipients int64  `json:"recipients"`
		Sent       int64  `json:"sent"`
	}
	for deadline := time.Now().Add(3 * time.Minute); st.Status != "sent"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the blast is not sent three minutes after the restart: %+v", st)
		}
		res, err := client.Get(base + path + ".json")
		if err != nil {
			continue
		}
		err = json.NewDecoder(res.Body).Decode(&st)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s.json: status %d, %v", path, res.StatusCode, err)
		}
	}

	got := relay.received()
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
