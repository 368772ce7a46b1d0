package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// NetworkKept is how long a signature keeps its client's network (see
// holdNetwork), for the admins' view of unusual activity and bulk
// invalidation; then ForgetNetworks clears it.
const NetworkKept = 30 * 24 * time.Hour

// retentionWindow is how many signatures one statement of the retention
// job anonymises, so it never holds the single writer for long.
var retentionWindow = 1000

// ForgetNetworks clears the network of signatures older than NetworkKept,
// a window of ids at a time from after, the id a previous call returned (0
// the first time), as ForgetUnconfirmed does. It returns the id to start
// after next time and how many it cleared.
func (s *Store) ForgetNetworks(ctx context.Context, after int64) (next, cleared int64, err error) {
	below := s.now().Add(-NetworkKept).UnixNano()
	for {
		var upper sql.NullInt64
		if err := s.r.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id FROM signatures WHERE id > ? AND id < ? ORDER BY id LIMIT ?)`,
			after, below, forgetWindow).Scan(&upper); err != nil {
			return after, cleared, fmt.Errorf("forget networks: %w", err)
		}
		if !upper.Valid {
			return after, cleared, nil
		}
		res, err := s.w.ExecContext(ctx, `UPDATE signatures SET network = '' WHERE id > ? AND id <= ? AND network <> ''`, after, upper.Int64)
		if err != nil {
			return after, cleared, fmt.Errorf("forget networks: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return after, cleared, fmt.Errorf("forget networks: %w", err)
		}
		cleared += n
		after = upper.Int64
	}
}

// ForgetClosed anonymises the signers of causes closed (or won) more than
// retention ago, as a deletion request would (see anonymise), without
// putting them on the suppression list: counts are kept, names, addresses,
// postcodes and comments go, and so do supporters left with no signature.
// A cause is done once; reopened, it is done again after it closes again.
// It returns how many causes and signatures it anonymised.
func (s *Store) ForgetClosed(ctx context.Context, retention time.Duration) (causes, signatures int64, err error) {
	now := s.now()
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM causes WHERE status IN ('closed', 'victory')
		AND closed_at IS NOT NULL AND closed_at <= ? AND signers_forgotten_at IS NULL`, now.Add(-retention))
	if err != nil {
		return 0, 0, fmt.Errorf("forget closed causes: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("forget closed causes: %w", err)
		}
		ids = append(ids, id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("forget closed causes: %w", err)
	}
	for _, id := range ids {
		n, err := s.forgetSigners(ctx, id, now)
		signatures += n
		if err != nil {
			return causes, signatures, err
		}
		causes++
		s.changed(Change{CauseID: id})
	}
	return causes, signatures, nil
}

// forgetSigners anonymises a cause's signers, a window of signatures at a
// time, then marks the cause done.
func (s *Store) forgetSigners(ctx context.Context, causeID int64, now time.Time) (int64, error) {
	var after, done int64
	for {
		var upper sql.NullInt64
		if err := s.r.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id FROM signatures WHERE cause_id = ? AND id > ? ORDER BY id LIMIT ?)`,
			causeID, after, retentionWindow).Scan(&upper); err != nil {
			return done, fmt.Errorf("forget signers: %w", err)
		}
		if !upper.Valid {
			break
		}
		n, err := s.forgetWindow(ctx, causeID, after, upper.Int64)
		done += n
		if err != nil {
			return done, err
		}
		after = upper.Int64
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE causes SET signers_forgotten_at = ? WHERE id = ?`, now, causeID); err != nil {
		return done, fmt.Errorf("forget signers: %w", err)
	}
	return done, nil
}

// forgetWindow anonymises the cause's signatures with ids in (after, upto]
// in one transaction.
func (s *Store) forgetWindow(ctx context.Context, causeID, after, upto int64) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("forget signers: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT supporter_id FROM signatures
		WHERE cause_id = ? AND id > ? AND id <= ? AND supporter_id IS NOT NULL`, causeID, after, upto)
	if err != nil {
		return 0, fmt.Errorf("forget signers: %w", err)
	}
	var supporters []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("forget signers: %w", err)
		}
		supporters = append(supporters, id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("forget signers: %w", err)
	}
	var n int64
	for _, q := range []string{
		`UPDATE signatures SET email = '', email_key = 'forgotten:' || id, name = '', postcode = '', comment = '',
			comment_hidden = 0, is_public = 0, consent_updates = 0, ref = '', token_hash = '', network = '', supporter_id = NULL
			WHERE cause_id = ? AND id > ? AND id <= ? AND confirmed_at IS NOT NULL AND email <> ''`,
		`DELETE FROM signatures WHERE cause_id = ? AND id > ? AND id <= ? AND confirmed_at IS NULL`,
	} {
		res, err := tx.ExecContext(ctx, q, causeID, after, upto)
		if err != nil {
			return 0, fmt.Errorf("forget signers: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("forget signers: %w", err)
		}
		n += k
	}
	if err := forgetSupporters(ctx, tx, supporters); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("forget signers: %w", err)
	}
	return n, nil
}
