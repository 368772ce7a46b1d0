package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the package's numbered .sql migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// Priority orders delivery: transactional mail goes before bulk mail.
type Priority int

const (
	// Transactional is mail a person is waiting for: confirmations, receipts.
	Transactional Priority = 0
	// Bulk is mail nobody is waiting for: blasts and updates.
	Bulk Priority = 1
)

// Message is one email to one recipient.
type Message struct {
	To       string // the address, as it will be sent to
	ToName   string
	Lang     string
	Subject  string
	Text     string // the text/plain part; required
	HTML     string // the text/html part; optional
	Headers  map[string]string
	Priority Priority
	Kind     string // e.g. "signature_confirm", for logs and metrics
	// Template, when set, queues the mail by reference: the worker renders
	// the mail template of that name with Data in Lang when it sends it,
	// and Subject, Text and HTML are left empty.
	Template string
	Data     map[string]string
	// DataJSON, when set, is Data already encoded as a JSON object of
	// strings, and is queued instead of Data: a path that queues thousands
	// of mails a second encodes it more cheaply than encoding/json can.
	DataJSON string

	// FromName, when set, is the From header's display name, with the
	// configured sender's address; ReplyTo, the Reply-To address. Neither
	// is queued: a blast's worker rendering sets them.
	FromName string
	ReplyTo  string

	// Set by Enqueue and the worker.
	ID        int64
	MessageID string // without angle brackets
	Attempts  int
	CreatedAt time.Time // when it was queued; the Date header

	delivery int64 // a blast message's delivery row (0 for a test mail)
}

// Validate reports whether the message can be queued.
func (m Message) Validate() error {
	if !dotAtomAddress(m.To) {
		if _, err := mail.ParseAddress(m.To); err != nil {
			return fmt.Errorf("recipient %q: %w", m.To, err)
		}
	}
	if m.Template != "" {
		if m.Subject != "" || m.Text != "" || m.HTML != "" {
			return errors.New("a mail queued by template has no rendered parts")
		}
		if m.DataJSON != "" && m.Data != nil {
			return errors.New("a mail has Data and DataJSON")
		}
	} else if m.DataJSON != "" {
		return errors.New("DataJSON without a template")
	} else if strings.TrimSpace(m.Subject) == "" {
		return errors.New("empty subject")
	} else if m.Text == "" {
		return errors.New("empty text part")
	}
	for k := range m.Headers {
		if !validHeaderName(k) {
			return fmt.Errorf("header %q: not an extra header", k)
		}
	}
	return nil
}

// reservedHeaders are written from the Message's own fields and cannot be
// set through Headers.
var reservedHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true,
	"message-id": true, "mime-version": true, "content-type": true,
	"content-transfer-encoding": true, "sender": true, "return-path": true,
}

// validHeaderName reports whether k is a well-formed header field name
// (RFC 5322 ftext) that Headers may set.
func validHeaderName(k string) bool {
	if k == "" || reservedHeaders[strings.ToLower(k)] {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// MessageDomain is the right-hand side of generated Message-IDs. cmd/rally
// sets it from the base URL's host before any mail is queued.
var MessageDomain = "rally.localhost"

// newMessageID returns a globally unique Message-ID, without angle brackets.
func newMessageID(now time.Time) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	out := make([]byte, 0, 20+1+2*len(b)+1+len(MessageDomain))
	out = strconv.AppendInt(out, now.UnixNano(), 10)
	out = append(out, '.')
	out = hex.AppendEncode(out, b[:])
	out = append(out, '@')
	return string(append(out, MessageDomain...))
}

// Enqueue writes msg to the outbox inside tx, so it commits or rolls back with
// whatever caused it. The worker delivers it once tx commits.
func Enqueue(ctx context.Context, tx *sql.Tx, msg Message) error {
	args, err := outboxArgs(msg, time.Now().UTC())
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, insertOutbox, args...); err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	wake()
	return nil
}

const insertOutbox = `INSERT INTO outbox
	(priority, kind, message_id, to_addr, to_name, lang, subject, text_body, html_body, template, data, headers, status, attempts,
	 next_attempt_at, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)`

// Queue queues mail like Enqueue, through statements prepared once on the
// writer, for paths that queue thousands of mails a second.
type Queue struct {
	multi map[int]*sql.Stmt // multi-row inserts by row count

	mu   sync.Mutex
	args []any // EnqueueRows' arguments, kept between calls
}

// queueChunks are the row counts of the multi-row inserts EnqueueRows uses;
// any number of mails is queued as a sum of them.
var queueChunks = []int{64, 32, 16, 8, 4, 2, 1}

const outboxValues = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)`

// outboxColumns is how many values outboxValues takes.
const outboxColumns = 14

// PrepareQueue prepares the outbox inserts on writer. Call it outside any
// write transaction: the writer has one connection.
func PrepareQueue(ctx context.Context, writer *sql.DB) (*Queue, error) {
	q := &Queue{multi: map[int]*sql.Stmt{}}
	var err error
	for _, n := range queueChunks {
		query := strings.TrimSuffix(insertOutbox, outboxValues) + strings.TrimSuffix(strings.Repeat(outboxValues+",", n), ",")
		if q.multi[n], err = writer.PrepareContext(ctx, query); err != nil {
			q.Close()
			return nil, fmt.Errorf("prepare outbox insert: %w", err)
		}
	}
	return q, nil
}

// Enqueue writes msg to the outbox inside tx, as the package's Enqueue does.
func (q *Queue) Enqueue(ctx context.Context, tx *sql.Tx, msg Message) error {
	r, err := NewRow(msg, time.Now())
	if err != nil {
		return err
	}
	return q.EnqueueRows(ctx, tx, []Row{r})
}

// Row is a message made ready for the outbox: checked, with its Message-ID
// and data encoded. Building it costs about as much as writing it, so a
// path that queues thousands of mails a second builds its rows before it
// joins the single writer, and the writer only inserts them.
type Row struct{ args []any }

// NewRow checks msg and builds its outbox row, queued at now.
func NewRow(msg Message, now time.Time) (Row, error) {
	args, err := outboxArgs(msg, now.UTC())
	return Row{args}, err
}

// EnqueueRows writes rows to the outbox inside tx with as few multi-row
// inserts as queueChunks allow.
func (q *Queue) EnqueueRows(ctx context.Context, tx *sql.Tx, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	args := q.args
	defer func() {
		// Keep the buffer, not what it points to.
		clear(args[:cap(args)])
		q.args = args[:0]
	}()
	for len(rows) > 0 {
		n := queueChunks[len(queueChunks)-1]
		for _, c := range queueChunks {
			if c <= len(rows) {
				n = c
				break
			}
		}
		args = args[:0]
		for _, r := range rows[:n] {
			if len(r.args) != outboxColumns {
				return errors.New("enqueue mail: a row not made by NewRow")
			}
			args = append(args, r.args...)
		}
		if err := insert(ctx, tx.StmtContext(ctx, q.multi[n]), args...); err != nil {
			return fmt.Errorf("enqueue mail: %w", err)
		}
		rows = rows[n:]
	}
	wake()
	return nil
}

// Close releases the prepared statements.
func (q *Queue) Close() error {
	for _, st := range q.multi {
		if st != nil {
			st.Close()
		}
	}
	return nil
}

// outboxArgs validates msg and returns the values of its outbox row, in
// insertOutbox's order.
func outboxArgs(msg Message, now time.Time) ([]any, error) {
	if err := msg.Validate(); err != nil {
		return nil, fmt.Errorf("enqueue mail: %w", err)
	}
	headers := "{}"
	if len(msg.Headers) > 0 {
		b, err := json.Marshal(msg.Headers)
		if err != nil {
			return nil, fmt.Errorf("enqueue mail: %w", err)
		}
		headers = string(b)
	}
	if msg.Lang == "" {
		msg.Lang = "en"
	}
	// The time as the database stores it, formatted once for both columns.
	queued := dbTime(now)
	data := msg.DataJSON
	if msg.Template != "" && data == "" {
		b, err := json.Marshal(msg.Data)
		if err != nil {
			return nil, fmt.Errorf("enqueue mail: %w", err)
		}
		data = string(b)
	}
	return []any{int(msg.Priority), msg.Kind, newMessageID(now), msg.To, msg.ToName, msg.Lang, msg.Subject, msg.Text,
		msg.HTML, msg.Template, data, headers, queued, queued}, nil
}

// enqueued wakes idle workers when a message is queued. The signal may come
// before the caller's transaction commits; a woken worker then waits for the
// single writer connection, which the committing transaction holds, so it
// still finds the row. Sending never blocks Enqueue.
var enqueued = make(chan struct{}, 1)

func wake() {
	select {
	case enqueued <- struct{}{}:
	default:
	}
}
