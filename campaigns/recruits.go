package campaigns

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/rallyhq/rally/notify"
)

// freeShareCode returns code if no counted signer of the cause has it yet,
// else a new code that none has. Codes are random: two alike in one cause
// are a one in a billion chance at a million signers, but each would then
// be credited with the other's recruits.
func freeShareCode(ctx context.Context, tx *sql.Tx, causeID int64, code string) (string, error) {
	for {
		if code != "" {
			var taken bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM signatures
				WHERE cause_id = ? AND share_code = ? AND confirmed_at IS NOT NULL)`, causeID, code).Scan(&taken)
			if err != nil {
				return "", fmt.Errorf("free share code: %w", err)
			}
			if !taken {
				return code, nil
			}
		}
		code = NewShareCode()
	}
}

// newRecruitsToken returns the token of the private page that counts who
// signed through a signer's link, and its hash to store: the signature's id
// as 16 hex digits, then 32 random URL-safe characters, as a confirmation
// token (see NewSignatureToken), so the row is found by its primary key.
func newRecruitsToken(signatureID int64) (token, hash string) {
	var secret [24]byte
	if _, err := rand.Read(secret[:]); err != nil {
		panic(err)
	}
	sel := strconv.FormatUint(uint64(signatureID), 16)
	for len(sel) < 16 {
		sel = "0" + sel
	}
	token = sel + base64.RawURLEncoding.EncodeToString(secret[:])
	return token, notify.HashToken(token)
}

// Recruits counts the people who signed the cause through the personal link
// with code and are counted: a recruit counts once both signatures are
// confirmed (the caller knows the code's owner is).
func (s *Store) Recruits(ctx context.Context, causeID int64, code string) (int64, error) {
	if code == "" {
		return 0, nil
	}
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM signatures
		WHERE cause_id = ? AND ref = ? AND ref <> '' AND confirmed_at IS NOT NULL`, causeID, code).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recruits: %w", err)
	}
	return n, nil
}

// Recruiter is a counted signer as their private recruits page shows them.
type Recruiter struct {
	CauseID   int64
	Name      string
	ShareCode string
	Recruits  int64
}

// FindRecruiter returns the counted signer whose recruits page token is
// token, with how many people signed through their link.
func (s *Store) FindRecruiter(ctx context.Context, token string) (Recruiter, error) {
	id, ok := parseSignatureToken(token)
	if !ok {
		return Recruiter{}, fmt.Errorf("find recruiter: %w", ErrNotFound)
	}
	var r Recruiter
	var stored string
	err := s.r.QueryRowContext(ctx, `SELECT cause_id, name, share_code, recruits_hash FROM signatures
		WHERE id = ? AND confirmed_at IS NOT NULL`, id).Scan(&r.CauseID, &r.Name, &r.ShareCode, &stored)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (stored == "" ||
		subtle.ConstantTimeCompare([]byte(stored), []byte(notify.HashToken(token))) != 1)) {
		return Recruiter{}, fmt.Errorf("find recruiter: %w", ErrNotFound)
	}
	if err != nil {
		return Recruiter{}, fmt.Errorf("find recruiter: %w", err)
	}
	if r.Recruits, err = s.Recruits(ctx, r.CauseID, r.ShareCode); err != nil {
		return Recruiter{}, fmt.Errorf("find recruiter: %w", err)
	}
	return r, nil
}

// TopRecruiter is one of the signers who brought the most people to a
// cause, for its organiser.
type TopRecruiter struct {
	// FirstName is empty for a signer who did not agree to be shown.
	FirstName string
	Recruits  int64
}

// TopRecruiters returns the counted signers of the cause who brought the
// most counted signatures through their link, most first, at most limit of
// them. Only those who agreed to be shown (public) are named.
func (s *Store) TopRecruiters(ctx context.Context, causeID int64, limit int) ([]TopRecruiter, error) {
	// The codes are counted first, in the index of the codes signatures
	// came through, then each is looked up in the index of the signers'
	// codes: CROSS JOIN keeps that order, where SQLite would otherwise go
	// through every signer and look each up among the counts.
	rows, err := s.r.QueryContext(ctx, `SELECT r.name, r.is_public, t.n
		FROM (SELECT ref, count(*) AS n FROM signatures
			WHERE cause_id = ? AND ref <> '' AND confirmed_at IS NOT NULL GROUP BY ref) t
		CROSS JOIN signatures r
		WHERE r.cause_id = ? AND r.share_code = t.ref AND r.confirmed_at IS NOT NULL
		ORDER BY t.n DESC, r.id LIMIT ?`, causeID, causeID, limit)
	if err != nil {
		return nil, fmt.Errorf("top recruiters: %w", err)
	}
	defer rows.Close()
	var out []TopRecruiter
	for rows.Next() {
		var t TopRecruiter
		var name string
		var public bool
		if err := rows.Scan(&name, &public, &t.Recruits); err != nil {
			return nil, fmt.Errorf("top recruiters: %w", err)
		}
		if public {
			t.FirstName = notify.FirstName(name)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ChannelCount is how many counted signatures came through one channel.
type ChannelCount struct {
	// Source is the channel (see sourceName); empty for none named.
	Source string
	Count  int64
}

// SharingStats is how a cause's signatures came, by channel. (By day,
// they are the cause's breakdown: see SignaturesByDay.)
type SharingStats struct {
	Channels []ChannelCount
}

// SharingStats counts the cause's counted signatures (confirmed, neither
// held nor invalidated) by channel, most first.
func (s *Store) SharingStats(ctx context.Context, causeID int64) (SharingStats, error) {
	var st SharingStats
	rows, err := s.r.QueryContext(ctx, `SELECT source, count(*) AS n FROM signatures
		WHERE cause_id = ? AND confirmed_at IS NOT NULL AND held = 0 AND invalidation_id IS NULL
		GROUP BY source ORDER BY n DESC, source`, causeID)
	if err != nil {
		return st, fmt.Errorf("sharing stats: %w", err)
	}
	for rows.Next() {
		var ch ChannelCount
		if err := rows.Scan(&ch.Source, &ch.Count); err != nil {
			rows.Close()
			return st, fmt.Errorf("sharing stats: %w", err)
		}
		st.Channels = append(st.Channels, ch)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return st, fmt.Errorf("sharing stats: %w", err)
	}
	return st, nil
}
