package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/cmd/rally/database/dbtest"
)

// mustOpenDB opens the writer and a reader pool on a new SQLite file with
// production's DSN options and applies the notify migrations.
func mustOpenDB(t testing.TB) (writer, reader *sql.DB) {
	t.Helper()
	return dbtest.Open(t, database.Set{Name: "notify", FS: Migrations()})
}

// mustEnqueue queues msgs in one transaction, as a caller would.
func mustEnqueue(t testing.TB, db *sql.DB, msgs ...Message) {
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

// smtpServer is a real SMTP server in the test process, on 127.0.0.1. It
// counts the commands it is sent, and can refuse the sender, run a hook
// before each reply (to delay or stall it) and at each MAIL FROM.
type smtpServer struct {
	Addr string

	opts smtpOptions
	srv  *smtp.Server

	mu          sync.Mutex
	msgs        []received
	sessions    int
	conns       int // TCP connections accepted
	open        int // sessions open now
	maxOpen     int
	authed      []string
	commands    map[string]int // client commands by verb (RSET, NOOP, QUIT, MAIL, …)
	rejectFrom  *smtp.SMTPError
	beforeReply func()
	onMail      func(session int)
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
	// IdleTimeout closes a connection that sends nothing for that long
	// (default 10 s).
	IdleTimeout time.Duration
}

// startSMTP starts a server on 127.0.0.1.
func startSMTP(t *testing.T, opts smtpOptions) *smtpServer {
	t.Helper()
	return startSMTPAt(t, "127.0.0.1:0", opts)
}

// startSMTPAt starts a server on addr.
func startSMTPAt(t *testing.T, addr string, opts smtpOptions) *smtpServer {
	t.Helper()
	s := &smtpServer{opts: opts, commands: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sessions++
		s.open++
		s.maxOpen = max(s.maxOpen, s.open)
		return &smtpSession{srv: s, id: s.sessions}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	if opts.IdleTimeout > 0 {
		srv.ReadTimeout = opts.IdleTimeout
	}
	srv.WriteTimeout = 10 * time.Second
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// The tap sits under TLS: it sees the clear text of plain connections only.
	var l net.Listener = &tapListener{Listener: tcp, s: s}
	if opts.Implicit {
		l = tls.NewListener(l, opts.TLS)
	} else {
		srv.TLSConfig = opts.TLS
	}
	s.Addr = tcp.Addr().String()
	s.srv = srv
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

// stop closes the listener and every connection.
func (s *smtpServer) stop() { s.srv.Close() }

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

func (s *smtpServer) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *smtpServer) openSessions() (now, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.maxOpen
}

func (s *smtpServer) authCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.authed)
}

// commandCount is how many times clients sent a command (RSET, NOOP, QUIT,
// MAIL …).
func (s *smtpServer) commandCount(verb string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commands[verb]
}

// refuseSender makes MAIL FROM answer e (nil: accept again).
func (s *smtpServer) refuseSender(e *smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectFrom = e
}

// setBeforeReply runs f before each reply the server writes (each line of
// a multi-line reply), on the connection's goroutine.
func (s *smtpServer) setBeforeReply(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeReply = f
}

// setOnMail runs f at each MAIL FROM, before it is answered.
func (s *smtpServer) setOnMail(f func(session int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMail = f
}

// tapListener hands out connections that count the client's commands and
// run the server's reply hook.
type tapListener struct {
	net.Listener
	s *smtpServer
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.conns++
	l.s.mu.Unlock()
	return &tapConn{Conn: c, s: l.s}, nil
}

type tapConn struct {
	net.Conn
	s    *smtpServer
	line []byte // the start of a line not yet complete
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.line = append(c.line, p[:n]...)
	for {
		i := bytes.Index(c.line, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := strings.ToUpper(string(c.line[:i]))
		c.line = c.line[i+2:]
		verb, _, _ := strings.Cut(line, " ")
		switch {
		case line == "RSET" || line == "NOOP" || line == "QUIT" || line == "DATA",
			strings.HasPrefix(line, "MAIL FROM:"), strings.HasPrefix(line, "RCPT TO:"),
			strings.HasPrefix(line, "EHLO "), strings.HasPrefix(line, "HELO "):
			c.s.mu.Lock()
			c.s.commands[verb]++
			c.s.mu.Unlock()
		}
	}
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.s.mu.Lock()
	hook := c.s.beforeReply
	c.s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return c.Conn.Write(p)
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
	s.srv.mu.Lock()
	onMail, reject := s.srv.onMail, s.srv.rejectFrom
	s.srv.mu.Unlock()
	if onMail != nil {
		onMail(s.id)
	}
	if s.srv.opts.User != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	if reject != nil {
		return reject
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

func (s *smtpSession) Reset() { s.cur = received{} }

func (s *smtpSession) Logout() error {
	s.srv.mu.Lock()
	s.srv.open--
	s.srv.mu.Unlock()
	return nil
}

// logBuffer keeps what a logger wrote, for tests that count log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// count is how many lines contain every one of subs.
func (l *logBuffer) count(subs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.b.String(), "\n") {
		if line != "" && containsAll(line, subs...) {
			n++
		}
	}
	return n
}

// bufferLogger logs to the test's output and to a buffer.
func bufferLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), buf), nil)), buf
}

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

// AdvanceTo moves the clock to t, unless it is already past it.
func (c *clock) AdvanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
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
