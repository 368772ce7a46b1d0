package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// HoldLimits say when signings are held for review: past PerNetwork
// signings of one cause within an hour from one client network (IPv4 /24,
// IPv6 /64), or PerDomain with one email domain, further ones are written
// and mailed as any other but not counted until an admin releases them. 0
// is no limit. Both are generous: many phones share one address behind a
// carrier's NAT, and a cause shared in a company or a university gets many
// signings from its network and its domain; a held signing loses nothing.
type HoldLimits struct {
	PerNetwork int
	PerDomain  int
}

// holdWindow is the window the hold limits count signings in.
const holdWindow = time.Hour

// holdKeys bounds how many (cause, network or domain) counts the limiter
// keeps; past it, it starts again empty (an attacker would need that many
// networks or domains within an hour to clear a count early).
const holdKeys = 1 << 18

// largeProviders are mailbox providers whose domain is shared by too many
// people for a burst of it to mean anything: their addresses are never held
// by the per-domain limit (the per-network one still applies).
var largeProviders = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "outlook.com": true, "hotmail.com": true, "hotmail.fr": true,
	"hotmail.co.uk": true, "live.com": true, "live.fr": true, "msn.com": true, "yahoo.com": true, "yahoo.fr": true,
	"yahoo.co.uk": true, "ymail.com": true, "icloud.com": true, "me.com": true, "mac.com": true, "aol.com": true,
	"proton.me": true, "protonmail.com": true, "gmx.com": true, "gmx.de": true, "gmx.fr": true, "web.de": true,
	"orange.fr": true, "wanadoo.fr": true, "free.fr": true, "sfr.fr": true, "laposte.net": true, "yandex.ru": true,
	"mail.ru": true, "t-online.de": true, "libero.it": true, "bluewin.ch": true, "skynet.be": true,
}

// holdNetwork returns the network a signing is counted under and stored
// with: an IPv4 address's /24, an IPv6 address's /64; "" for anything
// else. The address itself is never kept.
func holdNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	addr = addr.Unmap().WithZone("")
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// emailDomain returns the domain of a normalised address.
func emailDomain(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return strings.ToLower(email[i+1:])
	}
	return ""
}

// holdLimit counts signings per cause and network, and per cause and email
// domain, over a sliding hour, in memory: the estimate of the last hour's
// signings is the current hour's count plus the previous hour's, weighted
// by how much of it the sliding hour still covers. A restart forgets the
// counts, which no signer can cause.
type holdLimit struct {
	limits HoldLimits
	seed   maphash.Seed

	mu     sync.Mutex
	counts map[uint64]holdCount
	swept  int64 // the window the map was last swept in
	// exempt holds what admins trust (see Store.Trust), by cause.
	exempt map[exemptKey]bool
}

type holdCount struct {
	window    int64 // the hour cur counts, in hours since the epoch
	cur, prev uint32
}

type exemptKey struct {
	cause       int64
	kind, value string
}

func newHoldLimit(l HoldLimits) *holdLimit {
	return &holdLimit{limits: l, seed: maphash.MakeSeed(), counts: map[uint64]holdCount{}, exempt: map[exemptKey]bool{}}
}

// take counts a signing of the cause from network with an address at
// domain, and reports whether it is to be held: over either limit, and
// from nowhere an admin trusts for the cause.
func (l *holdLimit) take(cause int64, network, domain string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.exempt[exemptKey{cause, "network", network}] || l.exempt[exemptKey{cause, "domain", domain}] {
		return false
	}
	window := now.Unix() / int64(holdWindow/time.Second)
	if window != l.swept || len(l.counts) >= holdKeys {
		l.sweep(window)
	}
	// How much of the previous hour the sliding hour still covers.
	into := float64(now.Unix()%int64(holdWindow/time.Second)) / (holdWindow / time.Second).Seconds()
	held := false
	if network != "" && l.limits.PerNetwork > 0 {
		held = l.count(cause, 'n', network, window, into) > l.limits.PerNetwork || held
	}
	if domain != "" && l.limits.PerDomain > 0 && !largeProviders[domain] {
		held = l.count(cause, 'd', domain, window, into) > l.limits.PerDomain || held
	}
	return held
}

// count adds one to the key's count and returns the estimate of the
// sliding hour's signings, this one included. The caller holds mu.
func (l *holdLimit) count(cause int64, kind byte, value string, window int64, into float64) int {
	var h maphash.Hash
	h.SetSeed(l.seed)
	var b [9]byte
	for i := range 8 {
		b[i] = byte(cause >> (8 * i))
	}
	b[8] = kind
	h.Write(b[:])
	h.WriteString(value)
	k := h.Sum64()
	c := l.counts[k]
	switch c.window {
	case window:
	case window - 1:
		c = holdCount{window: window, prev: c.cur}
	default:
		c = holdCount{window: window}
	}
	c.cur++
	l.counts[k] = c
	return int(c.cur) + int(float64(c.prev)*(1-into))
}

// sweep forgets the counts no longer in the sliding hour, once a window,
// or all of them when there are too many. The caller holds mu.
func (l *holdLimit) sweep(window int64) {
	if len(l.counts) >= holdKeys {
		clear(l.counts)
	}
	for k, c := range l.counts {
		if c.window < window-1 {
			delete(l.counts, k)
		}
	}
	l.swept = window
}

// trust records what an admin trusts for a cause.
func (l *holdLimit) trust(cause int64, kind, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.exempt[exemptKey{cause, kind, value}] = true
}

// loadExemptions reads what admins trust into the limiter.
func (s *Store) loadExemptions(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `SELECT cause_id, kind, value FROM hold_exemptions`)
	if err != nil {
		return fmt.Errorf("load hold exemptions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k exemptKey
		if err := rows.Scan(&k.cause, &k.kind, &k.value); err != nil {
			return fmt.Errorf("load hold exemptions: %w", err)
		}
		s.holds.trust(k.cause, k.kind, k.value)
	}
	return rows.Err()
}

// HeldGroup is a cause's held signatures from one network or with one
// domain, for the admin's review.
type HeldGroup struct {
	Network   string
	Domain    string
	Count     int64
	Confirmed int64
	First     time.Time
	Last      time.Time
}

// HeldSignatures returns a cause's held signatures grouped by network and
// domain, the largest groups first, and their total.
func (s *Store) HeldSignatures(ctx context.Context, causeID int64, limit int) ([]HeldGroup, int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT network, substr(email_key, instr(email_key, '@') + 1) AS domain, count(*),
		count(confirmed_at), min(created_at), max(created_at)
		FROM `+heldSignatures+`
		WHERE cause_id = ? AND held = 1 AND invalidation_id IS NULL AND email <> ''
		GROUP BY network, domain ORDER BY count(*) DESC, network, domain`, causeID)
	if err != nil {
		return nil, 0, fmt.Errorf("held signatures: %w", err)
	}
	defer rows.Close()
	var out []HeldGroup
	var total int64
	for rows.Next() {
		var g HeldGroup
		var first, last string
		if err := rows.Scan(&g.Network, &g.Domain, &g.Count, &g.Confirmed, &first, &last); err != nil {
			return nil, 0, fmt.Errorf("held signatures: %w", err)
		}
		g.First, g.Last = parseDBTime(first), parseDBTime(last)
		total += g.Count
		if len(out) < limit {
			out = append(out, g)
		}
	}
	return out, total, rows.Err()
}

// HeldCause is a cause with signatures held for review.
type HeldCause struct {
	Cause Cause
	Held  int64
}

// CausesWithHeld returns the causes that have signatures held for review,
// the most held first.
func (s *Store) CausesWithHeld(ctx context.Context) ([]HeldCause, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT cause_id, count(*) FROM `+heldSignatures+`
		WHERE held = 1 AND invalidation_id IS NULL GROUP BY cause_id ORDER BY count(*) DESC LIMIT 50`)
	if err != nil {
		return nil, fmt.Errorf("causes with held signatures: %w", err)
	}
	type pair struct{ id, n int64 }
	var ps []pair
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.id, &p.n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("causes with held signatures: %w", err)
		}
		ps = append(ps, p)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("causes with held signatures: %w", err)
	}
	out := make([]HeldCause, 0, len(ps))
	for _, p := range ps {
		cz, err := s.FindCauseByID(ctx, p.id)
		if err != nil {
			return nil, err
		}
		out = append(out, HeldCause{Cause: cz, Held: p.n})
	}
	return out, nil
}

// Release counts a cause's held signatures: all of them, or those from
// one network or with one domain. With trust, signings from that network
// or domain are not held again for this cause (one of them must be
// given). The cause is recounted at once and the act logged. It returns
// how many it released.
func (s *Store) Release(ctx context.Context, admin Organiser, causeID int64, network, domain string, trust bool) (int64, error) {
	if trust && network == "" && domain == "" {
		return 0, fmt.Errorf("release: trust needs a network or a domain")
	}
	now := s.now()
	var released int64
	err := s.moderate(ctx, causeID, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signatures SET held = 0
			WHERE id IN (SELECT id FROM `+heldSignatures+` WHERE cause_id = ? AND held = 1)
			AND (? = '' OR network = ?) AND (? = '' OR substr(email_key, instr(email_key, '@') + 1) = ?)`,
			causeID, network, network, domain, domain)
		if err != nil {
			return err
		}
		if released, err = res.RowsAffected(); err != nil {
			return err
		}
		detail := fmt.Sprintf("released %d", released)
		if network != "" {
			detail += " network " + network
		}
		if domain != "" {
			detail += " domain " + domain
		}
		if trust {
			detail += ", trusted from now on"
			for _, kv := range [][2]string{{"network", network}, {"domain", domain}} {
				if kv[1] == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO hold_exemptions (cause_id, kind, value, admin_id, created_at)
					VALUES (?, ?, ?, ?, ?) ON CONFLICT (cause_id, kind, value) DO NOTHING`, causeID, kv[0], kv[1], admin.ID, now); err != nil {
					return err
				}
			}
		}
		return logModeration(ctx, tx, admin.ID, "release", causeID, detail, now)
	})
	if err != nil {
		return 0, fmt.Errorf("release held signatures: %w", err)
	}
	if trust {
		if network != "" {
			s.holds.trust(causeID, "network", network)
		}
		if domain != "" {
			s.holds.trust(causeID, "domain", domain)
		}
	}
	return released, nil
}

// recount sets the cause's count to its counted signatures: confirmed,
// not held, not invalidated. The confirmed ones are counted in their
// partial index, and the few held or invalidated among them taken off
// through theirs, so a cause of a million signatures recounts in
// milliseconds.
func recount(ctx context.Context, tx *sql.Tx, causeID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE causes SET signature_count =
		(SELECT count(*) FROM `+confirmedSignatures+` WHERE cause_id = ? AND confirmed_at IS NOT NULL)
		- (SELECT count(*) FROM `+heldSignatures+`
			WHERE cause_id = ? AND held = 1 AND confirmed_at IS NOT NULL AND invalidation_id IS NULL)
		- (SELECT count(*) FROM `+invalidatedSignatures+`
			WHERE invalidation_id IN (SELECT id FROM invalidations WHERE cause_id = ?) AND confirmed_at IS NOT NULL)
		WHERE id = ?`, causeID, causeID, causeID, causeID)
	if err != nil {
		return fmt.Errorf("recount: %w", err)
	}
	return recountBreakdowns(ctx, tx, causeID)
}

// recountBreakdowns rebuilds a cause's signatures by country and by day
// from its counted signatures. Unlike the count it reads every confirmed
// signature of the cause, which is fine for the rare acts that call it
// (an admin's release or invalidation, a withdrawal, a deletion request).
func recountBreakdowns(ctx context.Context, tx *sql.Tx, causeID int64) error {
	for _, q := range []string{
		`DELETE FROM cause_countries WHERE cause_id = ?`,
		`DELETE FROM cause_days WHERE cause_id = ?`,
		`INSERT INTO cause_countries (cause_id, country, signatures)
			SELECT cause_id, upper(country), count(*) FROM signatures
			WHERE cause_id = ? AND confirmed_at IS NOT NULL AND held = 0 AND invalidation_id IS NULL
			GROUP BY upper(country)`,
		`INSERT INTO cause_days (cause_id, day, signatures)
			SELECT cause_id, substr(confirmed_at, 1, 10), count(*) FROM signatures
			WHERE cause_id = ? AND confirmed_at IS NOT NULL AND held = 0 AND invalidation_id IS NULL
			GROUP BY substr(confirmed_at, 1, 10)`,
	} {
		if _, err := tx.ExecContext(ctx, q, causeID); err != nil {
			return fmt.Errorf("recount breakdowns: %w", err)
		}
	}
	return nil
}

// moderate runs an admin's change to a cause in one transaction on the
// writer, recounts the cause in it, and tells the page caches once it has
// committed; with a causeID of 0, only the change.
func (s *Store) moderate(ctx context.Context, causeID int64, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if causeID != 0 {
		if err := recount(ctx, tx, causeID); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if causeID != 0 {
		s.changed(Change{CauseID: causeID})
	}
	return nil
}

// parseDBTime reads a time SQLite computed (min, max) as text.
func parseDBTime(s string) time.Time {
	for _, layout := range []string{sqliteTime, "2006-01-02 15:04:05.999999999Z07:00", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
