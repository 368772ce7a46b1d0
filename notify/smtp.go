package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTPSender delivers through an SMTP server with go-mail. Each Send dials
// once and sends the whole batch over that one connection.
type SMTPSender struct {
	client *gomail.Client
	from   *mail.Address
	addr   string // host:port, for logs
	policy string // the TLS mode, for logs
}

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

	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(30 * time.Second),
		// The connection was just dialled: a NOOP before each message only costs a round trip.
		gomail.WithoutNoop()}
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

	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp sender: %w", err)
	}
	return &SMTPSender{client: c, from: f, addr: net.JoinHostPort(host, strconv.Itoa(port)), policy: policy}, nil
}

// String describes the sender for logs, without credentials.
func (s *SMTPSender) String() string { return "smtp " + s.addr + " (tls: " + s.policy + ")" }

// Send delivers msgs over one SMTP connection. If the server cannot be
// reached, every message gets the same temporary error.
func (s *SMTPSender) Send(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	built := make([]*gomail.Msg, len(msgs))
	n := 0
	for i, m := range msgs {
		gm, err := compose(m, s.from)
		if err != nil {
			errs[i] = err
			continue
		}
		built[i] = gm
		n++
	}
	if n == 0 {
		return errs
	}

	conn, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		err = fmt.Errorf("connect to %s: %w", s.addr, err)
		for i := range msgs {
			if built[i] != nil {
				errs[i] = err
			}
		}
		return errs
	}
	defer func() { _ = s.client.CloseWithSMTPClient(conn) }()

	for i, gm := range built {
		if gm == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("not sent: %w", err)
			continue
		}
		// One call per message, so each gets its own I/O deadline and its own error.
		err := s.client.SendWithSMTPClient(conn, gm)
		switch {
		case gm.IsDelivered():
			// The server accepted it; a failing RSET afterwards does not undo that.
			errs[i] = nil
		case err != nil:
			errs[i] = err
		default:
			errs[i] = errors.New("smtp: message not delivered")
		}
	}
	return errs
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
