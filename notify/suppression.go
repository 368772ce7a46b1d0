package notify

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Why an address gets no more blasts.
const (
	// SuppressUnsubscribe: the person used an unsubscribe link.
	SuppressUnsubscribe = "unsubscribe"
	// SuppressBounce: the mailbox does not exist (a 550–553 or 5.1.x reply).
	SuppressBounce = "bounce"
	// SuppressRequest: the person asked for their data to be deleted, or
	// an operator suppressed the address.
	SuppressRequest = "request"
)

// AllCauses is the cause of a suppression that holds for every cause.
const AllCauses int64 = 0

// keyHash is an address's key on the suppression list and in blast
// deliveries: SuppressionKey of its comparison key (see EmailKey) with the
// secret that signs links, so neither holds an address, and a deletion
// request, an unsubscribe and a bounce land on the same key.
func (s *Blasts) keyHash(email string) string {
	return SuppressionKey(s.cfg.Secret, EmailKey(email))
}

func suppress(ctx context.Context, tx *sql.Tx, hash string, causeID int64, reason string, blastID int64, now time.Time) error {
	var blast any
	if blastID > 0 {
		blast = blastID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO suppressions (key_hash, cause_id, reason, blast_id, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_hash, cause_id) DO NOTHING`, hash, causeID, reason, blast, now.UTC())
	if err != nil {
		return fmt.Errorf("suppress address: %w", err)
	}
	return nil
}

// suppressedAmong returns which of the key hashes are suppressed for the
// cause (or for every cause; AllCauses: for every cause only), in one
// query per 400.
func suppressedAmong(ctx context.Context, db querier, causeID int64, hashes []string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(hashes) > 0 {
		n := min(len(hashes), 400)
		args := make([]any, 0, n+1)
		args = append(args, causeID)
		for _, h := range hashes[:n] {
			args = append(args, h)
		}
		rows, err := db.QueryContext(ctx, `SELECT key_hash FROM suppressions
			WHERE cause_id IN (0, ?) AND key_hash IN (`+strings.TrimSuffix(strings.Repeat("?,", n), ",")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read suppressions: %w", err)
		}
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read suppressions: %w", err)
			}
			out[h] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read suppressions: %w", err)
		}
		hashes = hashes[n:]
	}
	return out, nil
}
