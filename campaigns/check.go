package campaigns

import (
	"context"
	"fmt"

	"github.com/rallyhq/rally/notify"
)

// SignatureState is what the database holds of one address's signing of a
// cause.
type SignatureState struct {
	Signed    bool // at least one signature, confirmed or not
	Confirmed bool // one of them confirmed
}

// SignatureStates returns, for each of the addresses, what the database
// holds of its signing of the cause: an address with no signature maps to
// the zero state. It reads every signature of the cause once, so it suits
// checking many addresses at a time (that every signing a client was told
// succeeded is on disk, after a crash), not a page's request.
func (s *Store) SignatureStates(ctx context.Context, causeID int64, emails []string) (map[string]SignatureState, error) {
	byKey := make(map[string][]string, len(emails))
	out := make(map[string]SignatureState, len(emails))
	for _, e := range emails {
		k := notify.EmailKey(e)
		byKey[k] = append(byKey[k], e)
		out[e] = SignatureState{}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT email_key, confirmed_at IS NOT NULL FROM signatures WHERE cause_id = ?`, causeID)
	if err != nil {
		return nil, fmt.Errorf("signature states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var confirmed bool
		if err := rows.Scan(&key, &confirmed); err != nil {
			return nil, fmt.Errorf("signature states: %w", err)
		}
		for _, e := range byKey[key] {
			st := out[e]
			st.Signed = true
			st.Confirmed = st.Confirmed || confirmed
			out[e] = st
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signature states: %w", err)
	}
	return out, nil
}
