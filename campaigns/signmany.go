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
var signChunks = []int{64, 32, 16, 8, 4, 2, 1}

const (
	signatureCols = `INSERT INTO signatures (cause_id, email, email_key, name, country, postcode, comment, is_public,
		consent_updates, ref, lang, id, token_hash, token_expires_at, created_at, share_code, source, held, network) VALUES `
	signatureValues = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// rowArgs returns the values of the signing's new signature row, in
// signatureCols' order.
func (sg *Signing) rowArgs(now time.Time) []any {
	in := sg.In
	now = now.UTC()
	return []any{sg.CauseID, in.Email, sg.key, in.Name, in.Country, in.Postcode, in.Comment, in.Public,
		in.Updates, in.Ref, in.Lang, sg.TokenID, sg.TokenHash, dbTime(now.Add(TokenTTL)), dbTime(now), sg.Code, in.Source, sg.held, sg.Network}
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
	sg.key = notify.EmailKey(sg.In.Email)
	if sg.Code == "" {
		sg.Code = NewShareCode()
	}
	sg.row, sg.mail = sg.rowArgs(now), mail
	return nil
}

// manyStatements are signMany's multi-row inserts by row count.
type manyStatements struct {
	signatures map[int]*sql.Stmt // inserts of n rows
	confirmed  map[int]*sql.Stmt // confirmedKeys with n keys

	mu   sync.Mutex
	args []any // signMany's arguments, kept between batches
}

func prepareMany(ctx context.Context, db *sql.DB) (*manyStatements, error) {
	m := &manyStatements{signatures: map[int]*sql.Stmt{}, confirmed: map[int]*sql.Stmt{}}
	for _, n := range signChunks {
		q := signatureCols + strings.TrimSuffix(strings.Repeat(signatureValues+",", n), ",")
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			m.close()
			return nil, err
		}
		m.signatures[n] = st
		q = confirmedKeys + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
		if st, err = db.PrepareContext(ctx, q); err != nil {
			m.close()
			return nil, err
		}
		m.confirmed[n] = st
	}
	return m, nil
}

func (m *manyStatements) close() {
	for _, sts := range []map[int]*sql.Stmt{m.signatures, m.confirmed} {
		for _, st := range sts {
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
// writer's time. A signing by someone already confirmed takes signAgain's
// path. It returns an error without saying which signing caused it; the
// caller then runs each alone through signTx.
func (s *Store) signMany(ctx context.Context, tx *sql.Tx, sgs []*Signing, now time.Time) ([]SignOutcome, error) {
	for _, sg := range sgs {
		if err := sg.prepare(now); err != nil {
			return nil, err
		}
	}
	counted, err := s.alreadyCounted(ctx, tx, sgs)
	if err != nil {
		return nil, err
	}
	s.many.mu.Lock()
	args := s.many.args
	defer func() {
		clear(args[:cap(args)])
		s.many.args = args[:0]
		s.many.mu.Unlock()
	}()
	outcomes := make([]SignOutcome, len(sgs))
	mails := make([]notify.Row, 0, len(sgs))
	fresh := make([]*Signing, 0, len(sgs))
	for i, sg := range sgs {
		if counted[i] != 0 {
			if outcomes[i], err = s.signAgain(ctx, tx, sg, counted[i]); err != nil {
				return nil, err
			}
			continue
		}
		outcomes[i] = SignedNew
		fresh = append(fresh, sg)
		if !sg.quiet {
			mails = append(mails, sg.mail)
		}
	}
	for from := 0; from < len(fresh); {
		n := chunk(len(fresh) - from)
		args = args[:0]
		for _, sg := range fresh[from : from+n] {
			args = append(args, sg.row...)
		}
		if err := runInsert(ctx, tx.StmtContext(ctx, s.many.signatures[n]), args...); err != nil {
			return nil, fmt.Errorf("sign many: signatures: %w", err)
		}
		from += n
	}
	if err := s.queue.EnqueueRows(ctx, tx, mails); err != nil {
		return nil, fmt.Errorf("sign many: %w", err)
	}
	return outcomes, nil
}

// signJob is a signing on its way through the group-committing writer: the
// value of its unit, which signTogether reads and answers.
type signJob struct {
	sg      *Signing
	outcome SignOutcome
}

// signTogether is the signings' group (see group): it writes the units'
// signings with signMany and gives each unit its outcome.
func (s *Store) signTogether(ctx context.Context, tx *sql.Tx, units []*unit, now time.Time) error {
	sgs := make([]*Signing, len(units))
	for i, u := range units {
		sgs[i] = u.value.(*signJob).sg
	}
	outcomes, err := s.signMany(ctx, tx, sgs, now)
	if err != nil {
		return err
	}
	for i, u := range units {
		u.value.(*signJob).outcome = outcomes[i]
	}
	return nil
}

// alreadyCounted returns, for each prepared signing, the id of its
// signer's confirmed signature of its cause, or 0 when there is none.
func (s *Store) alreadyCounted(ctx context.Context, tx *sql.Tx, sgs []*Signing) ([]int64, error) {
	counted := make([]int64, len(sgs))
	var args []any
	for start := 0; start < len(sgs); {
		// A batch is nearly always for one cause: take the run of signings
		// for the same cause, one chunk of it at a time.
		cause := sgs[start].CauseID
		end := start + 1
		for end < len(sgs) && sgs[end].CauseID == cause {
			end++
		}
		run := sgs[start : start+chunk(end-start)]
		args = append(args[:0], cause)
		for _, sg := range run {
			args = append(args, sg.key)
		}
		rows, err := tx.StmtContext(ctx, s.many.confirmed[len(run)]).QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("sign: find confirmed signers: %w", err)
		}
		for rows.Next() {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sign: find confirmed signers: %w", err)
			}
			for i, sg := range run {
				if sg.key == key {
					counted[start+i] = id
				}
			}
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("sign: find confirmed signers: %w", err)
		}
		start += len(run)
	}
	return counted, nil
}
