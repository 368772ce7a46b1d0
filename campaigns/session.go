package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rallyhq/rally/notify"
)

// sessionTouchEvery is how stale a session's last_seen_at may get before a
// request refreshes it: often enough for the account page, rarely enough
// that browsing writes nothing.
const sessionTouchEvery = 5 * time.Minute

// maxUserAgent bounds the user agent kept with a session, in bytes.
const maxUserAgent = 256

// sessionMeta is what a session records of the browser that holds it.
type sessionMeta struct {
	UserAgent string
	// IPPrefix is the client's network (see ipPrefix), never its address.
	IPPrefix string
}

func newSessionMeta(userAgent, clientIP string) sessionMeta {
	ua := strings.ToValidUTF8(userAgent, "")
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
		for !utf8.ValidString(ua) {
			ua = ua[:len(ua)-1]
		}
	}
	return sessionMeta{UserAgent: ua, IPPrefix: ipPrefix(clientIP)}
}

// ipPrefix returns the network of a client address as shown to its
// organiser: IPv4 to /24 and IPv6 to /48, enough to tell home from abroad
// without keeping where exactly someone is. "" for anything else.
func ipPrefix(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	addr = addr.Unmap()
	bits := 24
	if addr.Is6() {
		bits = 48
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// Session is one signed-in browser of an organiser, as the account page
// lists it.
type Session struct {
	ID         int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	UserAgent  string
	IPPrefix   string
}

// currentSession is the session a request came with.
type currentSession struct {
	ID         int64
	LastSeenAt time.Time
}

func insertSession(ctx context.Context, tx *sql.Tx, organiserID int64, token string, meta sessionMeta, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, organiser_id, created_at, expires_at, last_seen_at, user_agent, ip_prefix)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, notify.HashToken(token), organiserID, now, now.Add(sessionTTL), now, meta.UserAgent, meta.IPPrefix)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// expiredLinkKept is how long sign-up and emailed links are kept once
// expired, so that using one says it expired rather than that it never
// worked.
const expiredLinkKept = 7 * 24 * time.Hour

// deleteExpired clears out expired sessions, and sign-ups and links expired
// for a while. It runs whenever a session starts, which is often enough to
// keep the tables small.
func deleteExpired(ctx context.Context, tx *sql.Tx, now time.Time) error {
	for _, d := range []struct {
		q      string
		before time.Time
	}{
		{`DELETE FROM sessions WHERE expires_at <= ?`, now},
		{`DELETE FROM organiser_email_tokens WHERE expires_at <= ?`, now},
		{`DELETE FROM organiser_signups WHERE expires_at <= ?`, now.Add(-expiredLinkKept)},
		{`DELETE FROM organiser_link_tokens WHERE expires_at <= ?`, now.Add(-expiredLinkKept)},
	} {
		if _, err := tx.ExecContext(ctx, d.q, d.before); err != nil {
			return fmt.Errorf("delete expired: %w", err)
		}
	}
	return nil
}

// startSession stores a session for organiserID under token. It also clears
// out what has expired, and stores rehash as the organiser's new password
// hash when it is not empty.
func (s *Store) startSession(ctx context.Context, organiserID int64, token, rehash string, meta sessionMeta) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	if err := deleteExpired(ctx, tx, now); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	if err := insertSession(ctx, tx, organiserID, token, meta, now); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	if rehash != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE organisers SET password_hash = ?, updated_at = ? WHERE id = ?`,
			rehash, now, organiserID); err != nil {
			return fmt.Errorf("start session: rehash: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	return nil
}

// sessionOrganiser returns the organiser whose unexpired session token is
// token, and the session, or ErrNotFound.
func (s *Store) sessionOrganiser(ctx context.Context, token string) (Organiser, currentSession, error) {
	var cur currentSession
	o, err := scanOrganiser(s.r.QueryRowContext(ctx, `SELECT `+organiserColumns+`, s.id, s.last_seen_at
		FROM sessions s JOIN organisers o ON o.id = s.organiser_id
		WHERE s.token_hash = ? AND s.expires_at > ?`, notify.HashToken(token), s.now()), &cur.ID, &cur.LastSeenAt)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Organiser{}, cur, fmt.Errorf("find session: %w", err)
	}
	return o, cur, err
}

// touchSession records that session id was used now, by meta's browser.
func (s *Store) touchSession(ctx context.Context, id int64, meta sessionMeta) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?, user_agent = ?, ip_prefix = ? WHERE id = ?`,
		s.now(), meta.UserAgent, meta.IPPrefix, id); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// deleteSession ends the session whose token is token, if there is one.
func (s *Store) deleteSession(ctx context.Context, token string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, notify.HashToken(token)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// ListSessions returns the organiser's unexpired sessions, most recently
// used first.
func (s *Store) ListSessions(ctx context.Context, organiserID int64) ([]Session, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, created_at, last_seen_at, user_agent, ip_prefix
		FROM sessions WHERE organiser_id = ? AND expires_at > ? ORDER BY last_seen_at DESC, id DESC`, organiserID, s.now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var se Session
		if err := rows.Scan(&se.ID, &se.CreatedAt, &se.LastSeenAt, &se.UserAgent, &se.IPPrefix); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		se.CreatedAt, se.LastSeenAt = se.CreatedAt.UTC(), se.LastSeenAt.UTC()
		out = append(out, se)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// EndSession ends the organiser's session id. A session that is not theirs
// (or no longer exists) is ErrNotFound, whoever it belongs to.
func (s *Store) EndSession(ctx context.Context, organiserID, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ? AND organiser_id = ?`, id, organiserID)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("end session: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// EndSessions ends every session of the organiser but keep (0 for none).
func (s *Store) EndSessions(ctx context.Context, organiserID, keep int64) error {
	if _, err := s.w.ExecContext(ctx, deleteSessions, organiserID, keep); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// deleteSessions deletes every session of an organiser but one.
const deleteSessions = `DELETE FROM sessions WHERE organiser_id = ? AND id <> ?`
