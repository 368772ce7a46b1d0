package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"
)

// parsedMail is a delivered message read back with the standard library.
type parsedMail struct {
	Header   mail.Header
	Subject  string
	To       *mail.Address
	Text     string
	HTML     string
	PartKind string
}

func mustParseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	p := parsedMail{Header: msg.Header}
	dec := mime.WordDecoder{}
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	if p.To, err = mail.ParseAddress(msg.Header.Get("To")); err != nil {
		t.Fatalf("To header %q: %v", msg.Header.Get("To"), err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p.PartKind = mediaType
	if mediaType != "multipart/alternative" {
		b, _ := io.ReadAll(msg.Body)
		p.Text = string(b)
		return p
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part) // quoted-printable is decoded by NextPart
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		default:
			t.Errorf("unexpected part %s", ct)
		}
	}
	return p
}

func TestSMTPSenderDeliversBatchOverOneConnection(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	s, err := NewSMTPSender("smtp://"+srv.Addr+"?tls=none", "Rally <rally@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	longLine := strings.Repeat("très long texte ", 40)
	msgs := []Message{
		{To: "ada@example.org", ToName: "Ada Lovelace", Lang: "en", Subject: "Please confirm your signature",
			Text: "Confirm: https://rally.example/confirm/a\n", HTML: `<p><a href="https://rally.example/confirm/a">Confirm</a></p>`,
			MessageID: "1.aaa@rally.example", CreatedAt: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)},
		{To: "elodie@example.fr", ToName: "Élodie Dupré", Lang: "fr", Subject: "Confirmez votre signature : « Forêt de Compiègne »",
			Text: "Bonjour Élodie,\n" + longLine + "\n", HTML: "<p>Bonjour Élodie,</p><p>" + longLine + "</p>",
			MessageID: "2.bbb@rally.example", Headers: map[string]string{"List-Unsubscribe": "<https://rally.example/u/t>"}},
		{To: "text-only@example.org", Subject: "Text only", Text: "Just text.\n", MessageID: "3.ccc@rally.example"},
	}
	errs := s.Send(context.Background(), msgs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	got := srv.received()
	if len(got) != len(msgs) {
		t.Fatalf("server got %d messages, want %d", len(got), len(msgs))
	}
	if n := srv.sessionCount(); n != 1 {
		t.Errorf("SMTP sessions = %d, want 1 for the whole batch", n)
	}
	for i, m := range msgs {
		r := got[i]
		if r.From != "rally@example.org" {
			t.Errorf("%d: envelope from = %q, want rally@example.org", i, r.From)
		}
		if len(r.To) != 1 || r.To[0] != m.To {
			t.Errorf("%d: envelope to = %v, want [%s]", i, r.To, m.To)
		}
		p := mustParseMail(t, r.Data)
		if p.Subject != m.Subject {
			t.Errorf("%d: subject = %q, want %q", i, p.Subject, m.Subject)
		}
		if p.To.Address != m.To || p.To.Name != m.ToName {
			t.Errorf("%d: To = %q <%s>, want %q <%s>", i, p.To.Name, p.To.Address, m.ToName, m.To)
		}
		if id := p.Header.Get("Message-Id"); id != "<"+m.MessageID+">" {
			t.Errorf("%d: Message-ID = %q, want <%s>", i, id, m.MessageID)
		}
		if from := p.Header.Get("From"); !strings.Contains(from, "rally@example.org") {
			t.Errorf("%d: From = %q", i, from)
		}
		if _, err := p.Header.Date(); err != nil {
			t.Errorf("%d: Date: %v", i, err)
		}
		if text := strings.ReplaceAll(p.Text, "\r\n", "\n"); strings.TrimRight(text, "\n") != strings.TrimRight(m.Text, "\n") {
			t.Errorf("%d: text part = %q, want %q", i, p.Text, m.Text)
		}
		if m.HTML != "" {
			if p.PartKind != "multipart/alternative" {
				t.Errorf("%d: Content-Type = %s, want multipart/alternative", i, p.PartKind)
			}
			if strings.TrimRight(p.HTML, "\r\n") != m.HTML {
				t.Errorf("%d: HTML part = %q, want %q", i, p.HTML, m.HTML)
			}
		}
		for k, v := range m.Headers {
			if got := p.Header.Get(k); got != v {
				t.Errorf("%d: header %s = %q, want %q", i, k, got, v)
			}
		}
		if m.Lang != "" && p.Header.Get("Content-Language") != m.Lang {
			t.Errorf("%d: Content-Language = %q, want %q", i, p.Header.Get("Content-Language"), m.Lang)
		}
	}
	if d, _ := mustParseMail(t, got[0].Data).Header.Date(); !d.Equal(msgs[0].CreatedAt) {
		t.Errorf("Date = %v, want the queue time %v", d, msgs[0].CreatedAt)
	}
}

func TestSMTPSenderAuthAndTLS(t *testing.T) {
	cert, pool := mustSelfSignedCert(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	tests := []struct {
		name     string
		tlsConf  *tls.Config
		implicit bool
		url      func(port string) string
	}{
		{"plain text on loopback, PLAIN without TLS", nil, false,
			func(p string) string { return "smtp://rally:s3cr%40t@127.0.0.1:" + p }},
		{"explicit tls=none", nil, false,
			func(p string) string { return "smtp://rally:s3cr%40t@127.0.0.1:" + p + "?tls=none" }},
		{"STARTTLS required", serverTLS, false,
			func(p string) string { return "smtp://rally:s3cr%40t@127.0.0.1:" + p + "?tls=starttls" }},
		{"implicit TLS", serverTLS, true,
			func(p string) string { return "smtps://rally:s3cr%40t@127.0.0.1:" + p }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, smtpOptions{TLS: tt.tlsConf, Implicit: tt.implicit, User: "rally", Pass: "s3cr@t"})
			s, err := newSMTPSender(tt.url(srv.port()), "rally@example.org", clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			errs := s.Send(context.Background(), []Message{testMessage("a@example.org"), testMessage("b@example.org")})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if got := len(srv.received()); got != 2 {
				t.Errorf("delivered %d, want 2", got)
			}
			if n := srv.authCount(); n != 1 {
				t.Errorf("authentications = %d, want 1", n)
			}
		})
	}
}

func TestSMTPSenderRequiredSTARTTLSRefusesPlainServer(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	s, err := NewSMTPSender("smtp://"+srv.Addr+"?tls=starttls", "")
	if err != nil {
		t.Fatal(err)
	}
	errs := s.Send(context.Background(), []Message{testMessage("a@example.org")})
	if errs[0] == nil {
		t.Fatal("sent over plain text although STARTTLS is required")
	}
	if IsPermanent(errs[0]) {
		t.Errorf("IsPermanent(%v) = true, want a temporary error", errs[0])
	}
	if n := len(srv.received()); n != 0 {
		t.Errorf("server got %d messages", n)
	}
}

func TestSMTPSenderServerDownIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := NewSMTPSender("smtp://"+addr+"?tls=none", "")
	if err != nil {
		t.Fatal(err)
	}
	errs := s.Send(context.Background(), []Message{testMessage("a@example.org"), testMessage("b@example.org")})
	for i, err := range errs {
		if err == nil || IsPermanent(err) {
			t.Errorf("message %d: err = %v, want a temporary error", i, err)
		}
	}
}

// rejections make the test server refuse two recipients, one for now and
// one for good.
var rejections = map[string]*smtp.SMTPError{
	"later@example.org":  {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"},
	"nobody@example.org": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
}

func TestSMTPSenderRejections(t *testing.T) {
	srv := startSMTP(t, smtpOptions{Reject: rejections})
	s, err := NewSMTPSender("smtp://"+srv.Addr+"?tls=none", "")
	if err != nil {
		t.Fatal(err)
	}
	errs := s.Send(context.Background(), []Message{
		testMessage("later@example.org"), testMessage("nobody@example.org"), testMessage("ok@example.org")})
	if errs[0] == nil || IsPermanent(errs[0]) || !containsAll(errs[0].Error(), "451", "Try again later") {
		t.Errorf("4xx: err = %v, want a temporary error with the reply", errs[0])
	}
	if errs[1] == nil || !IsPermanent(errs[1]) || !containsAll(errs[1].Error(), "550", "5.1.1 No such user") {
		t.Errorf("5xx: err = %v, want a permanent error with the reply", errs[1])
	}
	if errs[2] != nil {
		t.Errorf("the message after two rejections: %v", errs[2])
	}
	if got := srv.received(); len(got) != 1 || got[0].To[0] != "ok@example.org" {
		t.Errorf("delivered %+v, want only ok@example.org", got)
	}
}

func TestNewSMTPSenderURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr bool
		addr    string
		policy  string
	}{
		{"smtp://user:pass@mail.example.org", false, "mail.example.org:587", "starttls"},
		{"smtp://mail.example.org:2525", false, "mail.example.org:2525", "starttls"},
		{"smtp://localhost:1025", false, "localhost:1025", "opportunistic"},
		{"smtp://[::1]:1025", false, "[::1]:1025", "opportunistic"},
		{"smtp://127.0.0.1:1025?tls=starttls", false, "127.0.0.1:1025", "starttls"},
		{"smtp://mail.example.org?tls=none", false, "mail.example.org:587", "none"},
		{"smtps://user:pass@mail.example.org", false, "mail.example.org:465", "tls"},
		{"smtps://mail.example.org:2465", false, "mail.example.org:2465", "tls"},
		{"http://mail.example.org", true, "", ""},
		{"smtp://", true, "", ""},
		{"smtp://mail.example.org:0", true, "", ""},
		{"smtp://mail.example.org?tls=maybe", true, "", ""},
		{"::not a url", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := NewSMTPSender(tt.url, "")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "pass") && strings.Contains(tt.url, "pass") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if s.addr != tt.addr || s.policy != tt.policy {
				t.Errorf("addr, policy = %s, %s; want %s, %s", s.addr, s.policy, tt.addr, tt.policy)
			}
			if strings.Contains(s.String(), "pass") {
				t.Errorf("String() = %q shows the password", s.String())
			}
		})
	}
	if _, err := NewSMTPSender("smtp://mail.example.org", "not an address"); err == nil {
		t.Error("a bad From address was accepted")
	}
}

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", errors.New("dial tcp 127.0.0.1:25: connect: connection refused"), false},
		{"bad message", permanent(errors.New("recipient")), true},
		{"wrapped bad message", errors.Join(errors.New("x"), permanent(errors.New("y"))), true},
		{"go-mail no connection", &gomail.SendError{Reason: gomail.ErrConnCheck}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// mustSelfSignedCert makes a certificate for 127.0.0.1 and a pool trusting it.
func mustSelfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
