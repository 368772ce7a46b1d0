package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rallyhq/rally/notify"
)

// signChunks are the row counts of the multi-row inserts signMany uses; any
// batch is written as a sum of them, so a few prepared statements serve
// every batch size.
var signChunks = notify.QueueChunks

const (
	signatureCols = `INSERT INTO signatures (cause_id, email, email_key, name, country, postcode, comment, is_public,
		consent_updates, ref, lang, id, token_hash, token_expires_at, created_at) VALUES `
	signatureValues = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	signatureTail   = ` ON CONFLICT (cause_id, email_key) DO NOTHING RETURNING id`
)

// rowArgs returns the values of the signing's new signature row, in
// signatureCols' order.
func (sg *Signing) rowArgs(now time.Time) []any {
	in := sg.In
	now = now.UTC()
	return []any{sg.CauseID, in.Email, EmailKey(in.Email), in.Name, in.Country, in.Postcode, in.Comment, in.Public,
		in.Updates, in.Ref, in.Lang, sg.TokenID, sg.TokenHash, now.Add(TokenTTL).Format(notify.SQLiteTime),
		now.Format(notify.SQLiteTime)}
}

// prepare builds the signing's rows (the signature and its mail) once, in
// the request's goroutine: the single writer then only binds and inserts
// them.
func (sg *Signing) prepare(now time.Time) error {
	if sg.row != nil {
		return nil
	}
	mail, err := notify.NewRow(sg.NewMail, now)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	sg.row, sg.mail = sg.rowArgs(now), mail
	return nil
}

// manyStatements are signMany's multi-row inserts by row count.
type manyStatements struct {
	signatures map[int]*sql.Stmt

	mu   sync.Mutex
	args []any // signMany's arguments, kept between batches
}

func prepareMany(ctx context.Context, db *sql.DB) (*manyStatements, error) {
	m := &manyStatements{signatures: map[int]*sql.Stmt{}}
	for _, n := range signChunks {
		q := signatureCols + strings.TrimSuffix(strings.Repeat(signatureValues+",", n), ",") + signatureTail
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			m.close()
			return nil, err
		}
		m.signatures[n] = st
	}
	return m, nil
}

func (m *manyStatements) close() {
	for _, st := range m.signatures {
		if st != nil {
			st.Close()
		}
	}
}

// chunk returns the largest chunk size not over n.
func chunk(n int) int {
	for _, c := range signChunks {
		if c <= n {
			return c
		}
	}
	return 1
}

// signMany does what signTx does for many signings at once, with one
// multi-row insert per table and chunk instead of a statement per row: at
// thousands of signings a second, the per-statement cost is most of the
// writer's time. A repeat signing (signed before, or twice in this batch)
// takes signAgain's path. It returns an error without saying which signing
// caused it; the caller then runs each alone through signTx.
func (s *Store) signMany(ctx context.Context, tx *sql.Tx, sgs []*Signing, now time.Time) ([]SignOutcome, error) {
	inserted := make(map[int64]bool, len(sgs))
	s.many.mu.Lock()
	args := s.many.args
	defer func() {
		clear(args[:cap(args)])
		s.many.args = args[:0]
		s.many.mu.Unlock()
	}()
	for from := 0; from < len(sgs); {
		n := chunk(len(sgs) - from)
		args = args[:0]
		for _, sg := range sgs[from : from+n] {
			if err := sg.prepare(now); err != nil {
				return nil, err
			}
			args = append(args, sg.row...)
		}
		rows, err := tx.StmtContext(ctx, s.many.signatures[n]).QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("sign many: signatures: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sign many: signatures: %w", err)
			}
			inserted[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("sign many: signatures: %w", err)
		}
		from += n
	}
	outcomes := make([]SignOutcome, len(sgs))
	mails := make([]notify.Row, 0, len(sgs))
	for i, sg := range sgs {
		if inserted[sg.TokenID] {
			outcomes[i] = SignedNew
			mails = append(mails, sg.mail)
			continue
		}
		// Signed before, or earlier in this batch.
		o, err := s.signAgain(ctx, tx, sg, now)
		if err != nil {
			return nil, err
		}
		outcomes[i] = o
	}
	if err := s.queue.EnqueueRows(ctx, tx, mails); err != nil {
		return nil, fmt.Errorf("sign many: %w", err)
	}
	return outcomes, nil
}
