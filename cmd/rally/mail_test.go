package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail failed for good (by a relay that refused Rally's sender, say) goes
// out again after `rally mail retry`, which says how many it queued.
func TestMailRetryQueuesFailedMailAgain(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for schools")
	for _, addr := range []string{"ada@example.org", "grace@example.org"} {
		if r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Someone", addr)); r.status != http.StatusOK {
			t.Fatalf("sign: status %d", r.status)
		}
	}
	if _, err := ta.writer.Exec(`UPDATE outbox SET status = 'failed', attempts = 1, last_error = '530 5.7.0 Authentication required'
		WHERE to_addr IN ('ada@example.org', 'grace@example.org')`); err != nil {
		t.Fatal(err)
	}
	if mail := ta.lastMailTo("ada@example.org"); mail != "" {
		t.Fatal("failed mail was delivered before the retry")
	}

	env := map[string]string{"RALLY_DATA": ta.cfg.Data, "RALLY_LOG_LEVEL": "error"}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"mail", "retry"}, func(k string) string { return env[k] }, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "queued 2 failed messages again") {
		t.Errorf("output = %q, want the count", out.String())
	}
	for _, addr := range []string{"ada@example.org", "grace@example.org"} {
		if !confirmLink.MatchString(ta.lastMailTo(addr)) {
			t.Errorf("no confirmation mail to %s after the retry", addr)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"mail", "retry"}, func(k string) string { return env[k] }, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "queued 0 failed messages again") {
		t.Errorf("second run: output = %q", out.String())
	}
	if err := run(context.Background(), []string{"mail"}, func(k string) string { return env[k] }, nil, &out); err == nil {
		t.Error("`rally mail` without retry was accepted")
	}
}

func TestSMTPConnsSetting(t *testing.T) {
	tests := []struct {
		env, flag string
		want      int
		ok        bool
	}{
		{"", "", 1, true},
		{"4", "", 4, true},
		{"4", "8", 8, true},
		{"0", "", 0, false},
		{"65", "", 0, false},
		{"two", "", 0, false},
	}
	for _, tt := range tests {
		var args []string
		if tt.flag != "" {
			args = []string{"--smtp-conns", tt.flag}
		}
		cfg, err := parseConfig(newFlagSet(), args, func(k string) string {
			if k == "RALLY_SMTP_CONNS" {
				return tt.env
			}
			return ""
		})
		if (err == nil) != tt.ok || (tt.ok && cfg.SMTPConns != tt.want) {
			t.Errorf("env %q, flag %q: conns %d, err %v; want %d, ok %v", tt.env, tt.flag, cfg.SMTPConns, err, tt.want, tt.ok)
		}
	}
}

// Start-up warns about mail settings that cost deliveries.
func TestMailWarnings(t *testing.T) {
	tests := []struct {
		name             string
		smtp, from, base string
		want             []string
	}{
		{"dev outbox", "", "Rally <rally@localhost>", "http://localhost:8080", nil},
		{"Mailpit on this machine", "smtp://127.0.0.1:1025", "Rally <rally@example.org>", "http://localhost:8080", nil},
		{"sender left at localhost", "smtp://127.0.0.1:1025", "Rally <rally@localhost>", "http://localhost:8080", []string{"RALLY_MAIL_FROM"}},
		{"real relay, http links", "smtp://u:p@smtp.example.org:587", "Rally <rally@example.org>", "http://rally.example.org", []string{"https"}},
		{"real relay, both", "smtps://smtp.example.org", "rally@localhost", "http://rally.example.org", []string{"RALLY_MAIL_FROM", "https"}},
		{"real relay, done right", "smtp://u:p@smtp.example.org:587", "Rally <rally@example.org>", "https://rally.example.org", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mailWarnings(config{SMTPURL: tt.smtp, MailFrom: tt.from, BaseURL: tt.base})
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q does not mention %s", got[i], w)
				}
			}
		})
	}
}

// relay is an SMTP server in the test process that makes each first MAIL
// FROM wait until want connections have one in progress.
type relay struct {
	want int

	mu      sync.Mutex
	conns   int
	waiting int
	all     chan struct{}
	gaveUp  bool
	to      []string
}

func (r *relay) NewSession(*smtp.Conn) (smtp.Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns++
	return &relaySession{r: r}, nil
}

type relaySession struct {
	r     *relay
	first bool
	to    string
}

func (s *relaySession) Mail(string, *smtp.MailOptions) error {
	if s.first {
		return nil
	}
	s.first = true
	r := s.r
	r.mu.Lock()
	r.waiting++
	if r.waiting == r.want {
		close(r.all)
	}
	r.mu.Unlock()
	select {
	case <-r.all:
	case <-time.After(5 * time.Second):
		r.mu.Lock()
		r.gaveUp = true
		r.mu.Unlock()
	}
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *relaySession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.to = append(s.r.to, s.to)
	s.r.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        {}
func (s *relaySession) Logout() error { return nil }

// With RALLY_SMTP_CONNS, the confirmation mails go to the relay over that
// many connections at once.
func TestMailGoesOutOverSMTPConns(t *testing.T) {
	rl := &relay{want: 3, all: make(chan struct{})}
	srv := smtp.NewServer(rl)
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	ta := newTestApp(t, map[string]string{"RALLY_SMTP_URL": "smtp://" + l.Addr().String() + "?tls=none", "RALLY_SMTP_CONNS": "3",
		"RALLY_MAIL_FROM": "Rally <rally@example.org>"})
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for schools")
	for i := range 12 {
		if r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Someone", fmt.Sprintf("s%d@example.org", i))); r.status != http.StatusOK {
			t.Fatalf("sign: status %d", r.status)
		}
	}
	for {
		n, err := ta.worker.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.to) != 12 {
		t.Errorf("the relay got %d mails, want 12", len(rl.to))
	}
	if rl.conns != 3 || rl.gaveUp {
		t.Errorf("%d connections (all three at once: %v), want 3 in parallel", rl.conns, !rl.gaveUp)
	}
}
