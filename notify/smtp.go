package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"
	mailsmtp "github.com/wneessen/go-mail/smtp"
)

// SMTPSender delivers through an SMTP relay with go-mail. It keeps its
// connections open across messages and batches: each Send takes an idle
// connection, or dials one, and gives it back when done. Several goroutines
// may call Send at once, and each then has a connection of its own (one
// go-mail client is one serialized connection), so the worker's Conns is the
// number of connections. A connection idle for a while is closed with QUIT;
// one that breaks is dropped and the next message dials anew. No RSET or
// NOOP goes between messages: a relay resets the transaction itself once it
// has answered the end of a message, and each costs a round trip.
type SMTPSender struct {
	from   *mail.Address
	dkim   *DKIM
	host   string
	opts   []gomail.Option
	addr   string // host:port, for logs
	policy string // the TLS mode, for logs

	implicitTLS bool

	// timeout bounds dialling (greeting, TLS, authentication included) and
	// then each message: a relay that stalls longer is given up on.
	timeout time.Duration
	// idle is how long an unused connection stays open.
	idle time.Duration

	mu   sync.Mutex
	free []*smtpConn // idle connections, the most recently used last
}

// smtpConn is one open connection to the relay.
type smtpConn struct {
	client *gomail.Client
	conn   *mailsmtp.Client
	uses   int         // messages it carried the relay's answer for
	timer  *time.Timer // closes it once idle
}

const (
	smtpTimeout     = 30 * time.Second
	smtpIdleTimeout = 30 * time.Second
)

// NewSMTPSender configures a sender from a URL:
//
//	smtp://user:pass@host:587   STARTTLS, required (port 587 by default)
//	smtps://user:pass@host:465  TLS from the first byte (port 465 by default)
//
// On a loopback host smtp:// uses STARTTLS only when the server offers it,
// since local relays and mail catchers often have no certificate. The query
// parameter tls overrides the mode: tls=starttls (required), tls=opportunistic,
// or tls=none (plain text; for test servers and trusted local relays).
// With a user name, authentication is chosen from what the server offers
// (SCRAM, CRAM-MD5, PLAIN or LOGIN); PLAIN and LOGIN are used in clear only
// on loopback or with tls=none. from is the From address, e.g.
// "Rally <rally@example.org>".
func NewSMTPSender(rawURL, from string) (*SMTPSender, error) {
	return newSMTPSender(rawURL, from, nil)
}

// newSMTPSender is NewSMTPSender with a TLS configuration for tests, whose
// servers use certificates of their own.
func newSMTPSender(rawURL, from string, tlsConf *tls.Config) (*SMTPSender, error) {
	f, err := parseFrom(from)
	if err != nil {
		return nil, fmt.Errorf("smtp sender: %w", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("smtp sender: parse RALLY_SMTP_URL: %w", redactURLError(err))
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("smtp sender: RALLY_SMTP_URL has no host")
	}
	implicitTLS := false
	port := 587
	switch u.Scheme {
	case "smtp":
	case "smtps":
		implicitTLS, port = true, 465
	default:
		return nil, fmt.Errorf("smtp sender: scheme %q: want smtp or smtps", u.Scheme)
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("smtp sender: bad port %q", p)
		}
	}
	loopback := isLoopbackHost(host)

	opts := []gomail.Option{gomail.WithPort(port),
		// A NOOP before each message and a RSET after it each cost a round
		// trip and tell nothing the next command would not: a connection
		// the relay closed shows at MAIL FROM, and Send then dials anew.
		gomail.WithoutNoop(), gomail.WithoutRset()}
	if tlsConf != nil {
		opts = append(opts, gomail.WithTLSConfig(tlsConf))
	}
	policy := "starttls"
	if implicitTLS {
		policy = "tls"
		opts = append(opts, gomail.WithSSL())
	} else {
		mode := u.Query().Get("tls")
		if mode == "" {
			mode = "starttls"
			if loopback {
				mode = "opportunistic"
			}
		}
		switch mode {
		case "starttls":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		case "opportunistic":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
		case "none":
			opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		default:
			return nil, fmt.Errorf("smtp sender: tls=%q: want starttls, opportunistic or none", mode)
		}
		policy = mode
	}

	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithUsername(user), gomail.WithPassword(pass))
		if policy == "starttls" || policy == "tls" {
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		} else {
			mechs := []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5}
			if loopback || policy == "none" {
				mechs = append(mechs, gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc)
			} else {
				mechs = append(mechs, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin)
			}
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(mechs...))
		}
	}

	// Checked here, so that a bad option fails at start-up, not at the first dial.
	if _, err := gomail.NewClient(host, opts...); err != nil {
		return nil, fmt.Errorf("smtp sender: %w", err)
	}
	return &SMTPSender{from: f, host: host, opts: opts, addr: net.JoinHostPort(host, strconv.Itoa(port)), policy: policy,
		implicitTLS: implicitTLS, timeout: smtpTimeout, idle: smtpIdleTimeout}, nil
}

// SetDKIM signs every message with d from then on; call it before the
// first Send.
func (s *SMTPSender) SetDKIM(d *DKIM) { s.dkim = d }

// String describes the sender for logs, without credentials.
func (s *SMTPSender) String() string { return "smtp " + s.addr + " (tls: " + s.policy + ")" }

// Send delivers msgs, in order, over one connection: an idle one, or a new
// one. The error of a message the relay was not to blame for is a relay
// error (see IsRelayError): the relay could not be reached, refused the
// sender or the login, or said it was busy; the messages after it get the
// same error without a try.
func (s *SMTPSender) Send(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	var c *smtpConn
	var relayErr error
	for i, m := range msgs {
		gm, err := compose(m, s.from, s.dkim)
		switch {
		case err != nil:
			errs[i] = err
		case relayErr != nil:
			errs[i] = relayErr
		case ctx.Err() != nil:
			errs[i] = fmt.Errorf("not sent: %w", ctx.Err())
		default:
			c, errs[i] = s.deliver(ctx, c, gm)
			if IsRelayError(errs[i]) {
				relayErr = errs[i]
			}
		}
	}
	if c != nil {
		s.put(c)
	}
	return errs
}

// deliver sends one message over c, or over a connection it takes or dials
// when c is nil, and returns the connection to go on with (nil if it had
// to be dropped).
func (s *SMTPSender) deliver(ctx context.Context, c *smtpConn, gm *gomail.Msg) (*smtpConn, error) {
	for retried := false; ; retried = true {
		if c == nil {
			var err error
			if c, err = s.get(ctx, retried); err != nil {
				return nil, err
			}
		}
		err := c.client.SendWithSMTPClient(c.conn, gm)
		if gm.IsDelivered() {
			// The relay accepted it; nothing after that can undo it.
			c.uses++
			return c, nil
		}
		var se *gomail.SendError
		if !errors.As(err, &se) {
			s.drop(c)
			return nil, fmt.Errorf("smtp %s: %w", s.addr, err)
		}
		code := se.ErrorCode() // 0 when the relay gave no reply: the connection failed
		switch {
		case se.Reason == gomail.ErrGetSender || se.Reason == gomail.ErrGetRcpts || se.Reason == gomail.ErrNoUnencoded:
			return c, permanent(err)
		case se.Reason == gomail.ErrConnCheck || se.Reason == gomail.ErrSMTPMailFrom:
			// Nothing about this message was said yet. A connection that
			// sat idle may have been closed by the relay, or may carry no
			// more mail: try once more on a new one (not another idle one,
			// which a restarted relay has closed too).
			reused := c.uses > 0
			s.drop(c)
			c = nil
			if reused && !retried {
				continue
			}
			return nil, replyRelayError(s.addr, code, err)
		case code == 421 || authReply(code):
			// The relay is closing the connection, or wants a login it
			// did not get: neither is about this recipient.
			s.drop(c)
			return nil, replyRelayError(s.addr, code, err)
		case code == 0:
			// The connection broke in the middle of this message. Its
			// attempt counts: if the message itself breaks connections,
			// its retries must run out rather than block the queue.
			s.drop(c)
			return nil, fmt.Errorf("smtp %s: connection lost: %w", s.addr, err)
		default:
			// The relay's answer about this recipient or this message.
			// After a refused DATA command the transaction is still open
			// (go-mail has already reset it after a refused RCPT, and a
			// reply to the message's end closes it).
			c.uses++
			if se.Reason == gomail.ErrSMTPData && c.conn.Reset() != nil {
				s.drop(c)
				c = nil
			}
			return c, err
		}
	}
}

// get takes the most recently used idle connection, or dials a new one
// (always, if fresh).
func (s *SMTPSender) get(ctx context.Context, fresh bool) (*smtpConn, error) {
	s.mu.Lock()
	if n := len(s.free); n > 0 && !fresh {
		c := s.free[n-1]
		s.free = s.free[:n-1]
		s.mu.Unlock()
		c.timer.Stop()
		return c, nil
	}
	s.mu.Unlock()
	opts := append(slices.Clip(s.opts), gomail.WithTimeout(s.timeout))
	// go-mail leaves the connection open when EHLO or STARTTLS fails, or
	// the relay offers no login: keep hold of it to close it. (With
	// implicit TLS go-mail dials itself, as it must to know the connection
	// is encrypted.)
	var raw net.Conn
	if !s.implicitTLS {
		opts = append(opts, gomail.WithDialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			raw = c
			return c, err
		}))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if raw != nil {
			_ = raw.Close()
		}
		return nil, dialRelayError(s.addr, err)
	}
	return &smtpConn{client: client, conn: conn}, nil
}

// put gives c back for the next message, and closes it if none comes
// within the idle time.
func (s *SMTPSender) put(c *smtpConn) {
	// The timer is set before c is on the idle list, under the lock: once
	// there, another sender may take c and stop the timer at once.
	s.mu.Lock()
	if c.timer == nil {
		c.timer = time.AfterFunc(s.idle, func() { s.expire(c) })
	} else {
		c.timer.Reset(s.idle)
	}
	s.free = append(s.free, c)
	s.mu.Unlock()
}

// expire closes c if it is still idle.
func (s *SMTPSender) expire(c *smtpConn) {
	if s.take(c) {
		s.quit(c)
	}
}

// take removes c from the idle connections, reporting whether it was there.
func (s *SMTPSender) take(c *smtpConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.free {
		if f == c {
			s.free = append(s.free[:i], s.free[i+1:]...)
			return true
		}
	}
	return false
}

// CloseIdle says goodbye (QUIT) on every idle connection and closes it.
// The worker calls it when it stops; a later Send dials again.
func (s *SMTPSender) CloseIdle() {
	s.mu.Lock()
	free := s.free
	s.free = nil
	s.mu.Unlock()
	for _, c := range free {
		c.timer.Stop()
		s.quit(c)
	}
}

// quit ends a healthy connection politely.
func (s *SMTPSender) quit(c *smtpConn) {
	_ = c.conn.UpdateDeadline(5 * time.Second)
	if err := c.client.CloseWithSMTPClient(c.conn); err != nil {
		_ = c.conn.Close()
	}
}

// drop closes a connection that failed, without a word to the relay.
func (s *SMTPSender) drop(c *smtpConn) {
	if c.timer != nil {
		c.timer.Stop()
	}
	_ = c.conn.Close()
}

// authReply reports whether an SMTP reply code asks for authentication or
// says it failed (RFC 4954): the relay's setting, not the recipient's.
func authReply(code int) bool {
	switch code {
	case 530, 534, 535, 538:
		return true
	}
	return false
}

// replyRelayError makes a relay error of a failure with the relay's reply
// code (0: no reply, the connection failed).
func replyRelayError(addr string, code int, err error) error {
	kind := relayUnreachable
	switch {
	case code == 0:
	case authReply(code) || code >= 500:
		kind = relayRefused
	default:
		kind = relayBusy
	}
	return &relayError{kind: kind, err: fmt.Errorf("smtp %s: %w", addr, err)}
}

// dialRelayError makes a relay error of a failure to connect, greet, start
// TLS or log in. Network failures mean the relay is unreachable; a 4xx
// reply that it is busy; anything else (a 5xx greeting, a refused login, a
// relay without STARTTLS, a certificate that does not verify) needs an
// operator.
func dialRelayError(addr string, err error) error {
	kind := relayRefused
	var te *textproto.Error
	var ne net.Error
	switch {
	case errors.As(err, &te):
		if te.Code >= 400 && te.Code < 500 && !authReply(te.Code) {
			kind = relayBusy
		}
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		kind = relayUnreachable
	}
	return &relayError{kind: kind, err: fmt.Errorf("connect to %s: %w", addr, err)}
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURLError drops the URL (and so any password in it) from a parse error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
