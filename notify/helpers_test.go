package notify

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	_ "github.com/mattn/go-sqlite3"
)

// mustOpenDB opens the writer and a reader pool on a new SQLite file with
// production's DSN options and applies the notify migrations.
func mustOpenDB(t *testing.T) (writer, reader *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rally.db")
	base := "file:" + path + "?_journal_mode=WAL&_busy_timeout=5000&_synchronous=FULL&_foreign_keys=on"
	writer, err := sql.Open("sqlite3", base+"&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	writer.SetMaxOpenConns(1)
	t.Cleanup(func() { writer.Close() })
	fsys := Migrations()
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
		if _, err := writer.Exec(string(b)); err != nil {
			t.Fatalf("migration %s: %v", name, err)
		}
	}
	reader, err = sql.Open("sqlite3", base+"&_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	return writer, reader
}

// mustEnqueue queues msgs in one transaction, as a caller would.
func mustEnqueue(t *testing.T, db *sql.DB, msgs ...Message) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, m := range msgs {
		if err := Enqueue(ctx, tx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// outboxRow is the delivery state of one outbox row.
type outboxRow struct {
	Status    string
	Attempts  int
	NextAt    time.Time
	Leased    bool
	LastError string
	Sent      bool
}

func mustRow(t *testing.T, db *sql.DB, to string) outboxRow {
	t.Helper()
	var r outboxRow
	var leased, sent sql.NullTime
	err := db.QueryRow(`SELECT status, attempts, next_attempt_at, leased_until, last_error, sent_at
		FROM outbox WHERE to_addr = ?`, to).Scan(&r.Status, &r.Attempts, &r.NextAt, &leased, &r.LastError, &sent)
	if err != nil {
		t.Fatalf("outbox row for %s: %v", to, err)
	}
	r.Leased, r.Sent = leased.Valid, sent.Valid
	return r
}

// received is one message accepted by the test SMTP server.
type received struct {
	Session int
	From    string
	To      []string
	Data    []byte
}

// smtpServer is a real SMTP server in the test process, on 127.0.0.1.
type smtpServer struct {
	Addr string

	opts smtpOptions

	mu       sync.Mutex
	msgs     []received
	sessions int
	authed   []string
}

// smtpOptions configure a test SMTP server.
type smtpOptions struct {
	// TLS, if set, is offered through STARTTLS, or from the first byte
	// with Implicit.
	TLS      *tls.Config
	Implicit bool
	// User and Pass, when set, are required through AUTH PLAIN.
	User, Pass string
	// Reject maps a recipient to the reply its RCPT TO gets.
	Reject map[string]*smtp.SMTPError
}

// startSMTP starts a server on 127.0.0.1.
func startSMTP(t *testing.T, opts smtpOptions) *smtpServer {
	t.Helper()
	tlsConf, implicit := opts.TLS, opts.Implicit
	s := &smtpServer{opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sessions++
		return &smtpSession{srv: s, id: s.sessions}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	var l net.Listener
	var err error
	if implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", tlsConf)
	} else {
		srv.TLSConfig = tlsConf
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpServer) port() string {
	_, p, _ := net.SplitHostPort(s.Addr)
	return p
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

func (s *smtpServer) authCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.authed)
}

type smtpSession struct {
	srv    *smtpServer
	id     int
	authed bool
	cur    received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.srv.opts.User || password != s.srv.opts.Pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		s.srv.mu.Lock()
		s.srv.authed = append(s.srv.authed, username)
		s.srv.mu.Unlock()
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.User != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = received{Session: s.id, From: from}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if rej := s.srv.opts.Reject[to]; rej != nil {
		return rej
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(s.cur.To) == 0 {
		return errors.New("no recipients")
	}
	s.cur.Data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.cur = received{} }
func (s *smtpSession) Logout() error { return nil }

// testLogger sends a worker's log to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock starts a minute ahead of the real time, so that messages the test
// queues (Enqueue stamps them with the real time) are due at once.
func newClock() *clock {
	return &clock{t: time.Now().UTC().Add(time.Minute).Truncate(time.Millisecond)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// testMessage returns a valid message to to.
func testMessage(to string) Message {
	return Message{To: to, Lang: "en", Subject: "Please confirm your signature",
		Text: "Confirm here: https://rally.example/confirm/abc\n", HTML: "<p><a href=\"https://rally.example/confirm/abc\">Confirm</a></p>",
		Kind: "signature_confirm"}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
