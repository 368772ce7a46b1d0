package notify

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultFrom is the sender used when none is configured.
const DefaultFrom = "Rally <rally@localhost>"

// parseFrom checks a configured sender address such as "Rally <rally@example.org>".
func parseFrom(from string) (*mail.Address, error) {
	if from == "" {
		from = DefaultFrom
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("sender address %q: %w", from, err)
	}
	return a, nil
}

// compose builds the RFC 5322 message for m: multipart/alternative with the
// text part first and the HTML part second (or text alone), UTF-8,
// quoted-printable, with its fixed Message-ID and Date. Both senders write
// what it returns, so the dev outbox shows exactly what SMTP would carry.
// Errors are permanent: the same message would fail the same way again.
func compose(m Message, from *mail.Address, dkim *DKIM) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if m.FromName != "" {
		from = &mail.Address{Name: m.FromName, Address: from.Address}
	}
	msg.FromMailAddress(from)
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, permanent(fmt.Errorf("reply-to %q: %w", m.ReplyTo, err))
		}
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, permanent(fmt.Errorf("recipient %q: %w", m.To, err))
	}
	if m.ToName != "" {
		to.Name = m.ToName
	}
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)

	id := m.MessageID
	if id == "" {
		id = newMessageID(time.Now())
	}
	msg.SetMessageIDWithValue(id)
	date := m.CreatedAt
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date.UTC())
	if m.Lang != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, m.Lang)
	}
	// Automated mail: ask auto-responders (RFC 3834) to stay quiet.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	if m.Priority == Bulk {
		msg.SetBulk()
	}
	for k, v := range m.Headers {
		if !validHeaderName(k) {
			return nil, permanent(fmt.Errorf("header %q: not an extra header", k))
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, permanent(fmt.Errorf("header %q: a line break in its value", k))
		}
		if asciiOnly(v) {
			// As written: go-mail would fold a long value (an unsubscribe
			// link) onto a line of its own.
			msg.SetGenHeaderPreformatted(gomail.Header(k), v)
		} else {
			msg.SetGenHeader(gomail.Header(k), v)
		}
	}
	if dkim != nil {
		msg.SetDKIM(dkim.signer())
	}

	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}
