package notify

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// suppressRequest is the reason of a suppression a person asked for, by
// asking for their data to be deleted.
const suppressRequest = "request"

// SuppressionKey returns what the suppression list keeps of an address:
// an HMAC-SHA256, keyed by RALLY_SECRET, of its comparison key (the caller
// computes it: campaigns.EmailKey). Keyed, so that the list cannot be
// checked against a list of addresses by anyone without the secret.
func SuppressionKey(secret []byte, emailKey string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("rally suppression v1\x00"))
	m.Write([]byte(emailKey))
	return hex.EncodeToString(m.Sum(nil))
}

// SuppressKey puts the address whose SuppressionKey is keyHash on the
// suppression list for every cause, inside tx: no campaign mail reaches it
// again, while mail the person asks for by acting (a new signing's
// confirmation) still goes. Suppressing twice is not an error.
func SuppressKey(ctx context.Context, tx *sql.Tx, keyHash string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO suppressions (key_hash, cause_id, reason, created_at)
		VALUES (?, 0, ?, ?) ON CONFLICT (key_hash, cause_id) DO NOTHING`, keyHash, suppressRequest, now.UTC())
	if err != nil {
		return fmt.Errorf("suppress address: %w", err)
	}
	return nil
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// IsSuppressed reports whether the address whose SuppressionKey is keyHash
// is on the suppression list for every cause.
func IsSuppressed(ctx context.Context, q querier, keyHash string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM suppressions WHERE key_hash = ? AND cause_id = 0`, keyHash).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read suppressions: %w", err)
	}
	return n > 0, nil
}

// PersonalData is notify's part of what Rally holds on a person, for a
// request to see it or to delete it: the mails sent to them, and whether
// their address is suppressed. cmd/rally hands it to the privacy pages.
type PersonalData struct {
	// Reader reads the outbox.
	Reader *sql.DB
	// Secret keys the suppression list (RALLY_SECRET).
	Secret []byte
	// Renderer, if set, renders the subjects of mails queued by template.
	Renderer MailRenderer
	// DevMailDir, when mail goes to the dev outbox, is its folder: the
	// person's .eml files there are deleted with the rest.
	DevMailDir string
}

// MailRecord is one mail to a person, as their export lists it.
type MailRecord struct {
	Kind     string     `json:"kind"`
	Subject  string     `json:"subject"`
	Status   string     `json:"status"`
	QueuedAt time.Time  `json:"queued_at"`
	SentAt   *time.Time `json:"sent_at,omitempty"`
}

// AddressesOf returns no address: the outbox is found by the addresses
// the other features know.
func (p PersonalData) AddressesOf(ctx context.Context, key string) ([]string, error) { return nil, nil }

// ExportPerson returns the mails in the outbox to any of the addresses
// (sent mail is kept 30 days) and whether the person is suppressed.
func (p PersonalData) ExportPerson(ctx context.Context, key string, emails []string) (map[string]any, error) {
	mails := []MailRecord{}
	if len(emails) > 0 {
		rows, err := p.Reader.QueryContext(ctx, `SELECT kind, subject, template, data, lang, status, created_at, sent_at FROM outbox
			WHERE to_addr IN (`+placeholders(len(emails))+`) ORDER BY id`, stringArgs(emails)...)
		if err != nil {
			return nil, fmt.Errorf("export mails: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var m MailRecord
			var template, data, lang string
			var sent sql.NullTime
			if err := rows.Scan(&m.Kind, &m.Subject, &template, &data, &lang, &m.Status, &m.QueuedAt, &sent); err != nil {
				return nil, fmt.Errorf("export mails: %w", err)
			}
			if m.Subject == "" && template != "" && p.Renderer != nil {
				msg := Message{Template: template, Lang: lang}
				if data != "" {
					_ = json.Unmarshal([]byte(data), &msg.Data)
				}
				if r, err := p.Renderer.Mail(lang, template, msg.Data); err == nil {
					m.Subject = r.Subject
				}
			}
			m.QueuedAt = m.QueuedAt.UTC()
			if sent.Valid {
				t := sent.Time.UTC()
				m.SentAt = &t
			}
			mails = append(mails, m)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("export mails: %w", err)
		}
	}
	hash := SuppressionKey(p.Secret, key)
	blasts, err := p.blastsTo(ctx, hash)
	if err != nil {
		return nil, err
	}
	suppressed, err := IsSuppressed(ctx, p.Reader, hash)
	if err != nil {
		return nil, err
	}
	return map[string]any{"mails": mails, "blasts": blasts, "campaign_mail_suppressed": suppressed}, nil
}

// BlastRecord is one blast sent, or meant, to a person, as their export
// lists it.
type BlastRecord struct {
	Subject string     `json:"subject"`
	Status  string     `json:"status"`
	SentAt  *time.Time `json:"sent_at,omitempty"`
	Opened  bool       `json:"opened"`
}

// blastsTo lists the blasts whose deliveries carry the suppression key
// hash. Deliveries have no index by key (it would slow every fan-out):
// this reads them all, which a person's request, rare, can afford.
func (p PersonalData) blastsTo(ctx context.Context, hash string) ([]BlastRecord, error) {
	rows, err := p.Reader.QueryContext(ctx, `SELECT b.subject, d.state, d.sent_at, d.opened_at IS NOT NULL
		FROM blast_deliveries d JOIN blasts b ON b.id = d.blast_id WHERE d.key_hash = ? ORDER BY d.id`, hash)
	if err != nil {
		return nil, fmt.Errorf("export blasts: %w", err)
	}
	defer rows.Close()
	out := []BlastRecord{}
	for rows.Next() {
		var r BlastRecord
		var sent sql.NullTime
		if err := rows.Scan(&r.Subject, &r.Status, &sent, &r.Opened); err != nil {
			return nil, fmt.Errorf("export blasts: %w", err)
		}
		if sent.Valid {
			t := sent.Time.UTC()
			r.SentAt = &t
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export blasts: %w", err)
	}
	return out, nil
}

// ForgetPerson deletes, inside tx, every mail to any of the addresses,
// queued or sent, blanks their address and name in blasts' deliveries,
// and puts the person on the suppression list: no campaign mail reaches
// them again.
func (p PersonalData) ForgetPerson(ctx context.Context, tx *sql.Tx, key string, emails []string, now time.Time) error {
	if len(emails) > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE to_addr IN (`+placeholders(len(emails))+`)`,
			stringArgs(emails)...); err != nil {
			return fmt.Errorf("forget mails: %w", err)
		}
	}
	if key == "" {
		return errors.New("forget mails: no address key")
	}
	hash := SuppressionKey(p.Secret, key)
	if err := SuppressKey(ctx, tx, hash, now); err != nil {
		return err
	}
	// Blasts' deliveries keep their state for the blasts' figures, not
	// the address or the name (read them all: see blastsTo).
	// One not sent yet never will be: its outbox row is gone with the rest.
	if _, err := tx.ExecContext(ctx, `UPDATE blast_deliveries SET email = '', first_name = '', last_reply = '',
		state = CASE WHEN state IN ('queued', 'sending') THEN 'suppressed' ELSE state END, updated_at = ?
		WHERE key_hash = ?`, now.UTC(), hash); err != nil {
		return fmt.Errorf("forget blast deliveries: %w", err)
	}
	if p.DevMailDir != "" {
		return forgetDevMail(p.DevMailDir, emails)
	}
	return nil
}

// forgetDevMail deletes the dev outbox's mails to any of the addresses.
func forgetDevMail(dir string, emails []string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return fmt.Errorf("forget dev mail: %w", err)
	}
	for _, name := range names {
		to, err := devMailTo(name)
		if err != nil {
			continue // being written, or not a mail: not the person's
		}
		if slices.ContainsFunc(emails, func(e string) bool { return strings.EqualFold(e, to) }) {
			if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("forget dev mail: %w", err)
			}
		}
	}
	return nil
}

// devMailTo reads the address a dev outbox file was sent to.
func devMailTo(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	msg, err := mail.ReadMessage(bufio.NewReader(f))
	if err != nil {
		return "", err
	}
	a, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil {
		return "", err
	}
	return a.Address, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
