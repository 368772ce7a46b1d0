package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/rallyhq/rally/notify"
)

// signChunks are the row counts of the multi-row inserts signMany uses; any
// batch is written as a sum of them, so a few prepared statements serve
// every batch size.
var signChunks = notify.QueueChunks

const (
	supporterCols   = `INSERT INTO supporters (email, email_key, name, country, postcode, lang, created_at, updated_at) VALUES `
	supporterValues = `(?, ?, ?, ?, ?, ?, ?, ?)`
	supporterTail   = ` ON CONFLICT (email_key) DO UPDATE SET lang = excluded.lang, updated_at = excluded.updated_at RETURNING id, email_key`
	signatureCols   = `INSERT INTO signatures (cause_id, supporter_id, name, country, postcode, comment, is_public, consent_updates,
		ref, lang, id, token_hash, token_expires_at, created_at) VALUES `
	signatureValues = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	signatureTail   = ` ON CONFLICT (cause_id, supporter_id) DO NOTHING RETURNING cause_id, supporter_id`
)

// manyStatements are signMany's multi-row inserts by row count.
type manyStatements struct {
	supporters map[int]*sql.Stmt
	signatures map[int]*sql.Stmt
}

func prepareMany(ctx context.Context, db *sql.DB) (*manyStatements, error) {
	m := &manyStatements{supporters: map[int]*sql.Stmt{}, signatures: map[int]*sql.Stmt{}}
	rows := func(values string, n int) string { return strings.TrimSuffix(strings.Repeat(values+",", n), ",") }
	for _, n := range signChunks {
		var err error
		if m.supporters[n], err = db.PrepareContext(ctx, supporterCols+rows(supporterValues, n)+supporterTail); err != nil {
			m.close()
			return nil, err
		}
		if m.signatures[n], err = db.PrepareContext(ctx, signatureCols+rows(signatureValues, n)+signatureTail); err != nil {
			m.close()
			return nil, err
		}
	}
	return m, nil
}

func (m *manyStatements) close() {
	for _, st := range m.supporters {
		if st != nil {
			st.Close()
		}
	}
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

type causeSupporter struct{ cause, supporter int64 }

// signMany does what signTx does for many signings at once, with one
// multi-row insert per table and chunk instead of a statement per row: at
// thousands of signings a second, the per-statement cost is most of the
// writer's time. A repeat signing (signed before, or twice in this batch)
// takes signAgain's path. It returns an error without saying which signing
// caused it; the caller then runs each alone through signTx.
func (s *Store) signMany(ctx context.Context, tx *sql.Tx, sgs []*Signing, now time.Time) ([]SignOutcome, error) {
	keys := make([]string, len(sgs))
	for i, sg := range sgs {
		keys[i] = EmailKey(sg.In.Email)
	}
	supporterIDs := make(map[string]int64, len(sgs))
	for from := 0; from < len(sgs); {
		n := chunk(len(sgs) - from)
		args := make([]any, 0, n*8)
		for i := from; i < from+n; i++ {
			in := sgs[i].In
			args = append(args, in.Email, keys[i], in.Name, in.Country, in.Postcode, in.Lang, now, now)
		}
		rows, err := tx.StmtContext(ctx, s.many.supporters[n]).QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("sign many: supporters: %w", err)
		}
		for rows.Next() {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sign many: supporters: %w", err)
			}
			supporterIDs[key] = id
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("sign many: supporters: %w", err)
		}
		from += n
	}
	inserted := make(map[causeSupporter]bool, len(sgs))
	expires := now.Add(TokenTTL)
	for from := 0; from < len(sgs); {
		n := chunk(len(sgs) - from)
		args := make([]any, 0, n*14)
		for i := from; i < from+n; i++ {
			sg, in := sgs[i], sgs[i].In
			args = append(args, sg.CauseID, supporterIDs[keys[i]], in.Name, in.Country, in.Postcode, in.Comment, in.Public,
				in.Updates, in.Ref, in.Lang, sg.TokenID, sg.TokenHash, expires, now)
		}
		rows, err := tx.StmtContext(ctx, s.many.signatures[n]).QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("sign many: signatures: %w", err)
		}
		for rows.Next() {
			var p causeSupporter
			if err := rows.Scan(&p.cause, &p.supporter); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sign many: signatures: %w", err)
			}
			inserted[p] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("sign many: signatures: %w", err)
		}
		from += n
	}
	outcomes := make([]SignOutcome, len(sgs))
	mails := make([]notify.Message, 0, len(sgs))
	for i, sg := range sgs {
		p := causeSupporter{sg.CauseID, supporterIDs[keys[i]]}
		if inserted[p] {
			// The first signing of the pair in this batch is the row inserted.
			delete(inserted, p)
			outcomes[i] = SignedNew
			mails = append(mails, sg.NewMail)
			continue
		}
		o, err := s.signAgain(ctx, tx, sg, p.supporter, now)
		if err != nil {
			return nil, err
		}
		outcomes[i] = o
	}
	if err := s.queue.EnqueueMany(ctx, tx, mails); err != nil {
		return nil, fmt.Errorf("sign many: %w", err)
	}
	return outcomes, nil
}
