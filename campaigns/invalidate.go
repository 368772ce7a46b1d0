package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// InvalidationInput says which of a cause's signatures an admin takes out
// of its count: those from a network, with an email domain, signed within
// a time range, or several of these at once. At least one is needed.
type InvalidationInput struct {
	Network string
	Domain  string
	Since   *time.Time
	Until   *time.Time
	Reason  string
}

// Validate checks the input, normalising the network (to its /24 or /64
// form as signatures keep it) and the domain in place.
func (in *InvalidationInput) Validate() FormErrors {
	errs := FormErrors{}
	in.Network = strings.TrimSpace(in.Network)
	in.Domain = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(in.Domain), "@")))
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Network != "" {
		if p, err := netip.ParsePrefix(in.Network); err == nil {
			in.Network = holdNetwork(p.Addr().String())
		} else if a, err := netip.ParseAddr(in.Network); err == nil {
			in.Network = holdNetwork(a.String())
		} else {
			errs["network"] = Problem{ID: "AdminErrNetwork"}
		}
	}
	if in.Domain != "" && (strings.ContainsAny(in.Domain, " @/") || !strings.Contains(in.Domain, ".")) {
		errs["domain"] = Problem{ID: "AdminErrDomain"}
	}
	if in.Since != nil && in.Until != nil && !in.Until.After(*in.Since) {
		errs["until"] = Problem{ID: "AdminErrRange"}
	}
	if in.Network == "" && in.Domain == "" && in.Since == nil && in.Until == nil && !errs.Any() {
		errs["network"] = Problem{ID: "AdminErrCriteria"}
	}
	checkText(errs, "reason", in.Reason, 0, MaxModerationReason)
	return errs
}

// Invalidation is a bulk invalidation of a cause's signatures.
type Invalidation struct {
	ID         int64
	CauseID    int64
	Network    string
	Domain     string
	Since      *time.Time
	Until      *time.Time
	Reason     string
	Signatures int64
	Admin      string
	CreatedAt  time.Time
	UndoneAt   *time.Time
}

// Invalidate takes a cause's signatures that match in out of its count,
// recounts the cause at once and logs the act. Signatures already taken
// out by another invalidation stay with it. Undo puts them back.
func (s *Store) Invalidate(ctx context.Context, admin Organiser, causeID int64, in InvalidationInput) (Invalidation, error) {
	now := s.now()
	inv := Invalidation{CauseID: causeID, Network: in.Network, Domain: in.Domain, Since: in.Since, Until: in.Until,
		Reason: in.Reason, Admin: admin.Name, CreatedAt: now}
	err := s.moderate(ctx, causeID, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO invalidations (cause_id, network, domain, since, until, reason, admin_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, causeID, in.Network, in.Domain, nullTime(in.Since), nullTime(in.Until),
			in.Reason, admin.ID, now).Scan(&inv.ID)
		if err != nil {
			return err
		}
		var since, until any
		if in.Since != nil {
			since = dbTime(in.Since.UTC())
		}
		if in.Until != nil {
			until = dbTime(in.Until.UTC())
		}
		res, err := tx.ExecContext(ctx, `UPDATE signatures SET invalidation_id = ?
			WHERE cause_id = ? AND invalidation_id IS NULL
			AND (? = '' OR network = ?)
			AND (? = '' OR substr(email_key, instr(email_key, '@') + 1) = ?)
			AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?)`,
			inv.ID, causeID, in.Network, in.Network, in.Domain, in.Domain, since, since, until, until)
		if err != nil {
			return err
		}
		if inv.Signatures, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invalidations SET signatures = ? WHERE id = ?`, inv.Signatures, inv.ID); err != nil {
			return err
		}
		return logModeration(ctx, tx, admin.ID, ActInvalidate, causeID, inv.describe(), now)
	})
	if err != nil {
		return Invalidation{}, fmt.Errorf("invalidate signatures: %w", err)
	}
	return inv, nil
}

// describe says what an invalidation took out, for the log.
func (inv Invalidation) describe() string {
	var parts []string
	parts = append(parts, fmt.Sprintf("#%d: %d signatures", inv.ID, inv.Signatures))
	if inv.Network != "" {
		parts = append(parts, "network "+inv.Network)
	}
	if inv.Domain != "" {
		parts = append(parts, "domain "+inv.Domain)
	}
	if inv.Since != nil {
		parts = append(parts, "from "+inv.Since.UTC().Format("2006-01-02 15:04 MST"))
	}
	if inv.Until != nil {
		parts = append(parts, "until "+inv.Until.UTC().Format("2006-01-02 15:04 MST"))
	}
	if inv.Reason != "" {
		parts = append(parts, "reason: "+inv.Reason)
	}
	return strings.Join(parts, ", ")
}

// ErrUndone is returned for an invalidation undone already.
var ErrUndone = errors.New("already undone")

// UndoInvalidation puts the signatures an invalidation took out back into
// the cause's count, recounts it at once and logs the act.
func (s *Store) UndoInvalidation(ctx context.Context, admin Organiser, causeID, id int64) (int64, error) {
	now := s.now()
	var back int64
	err := s.moderate(ctx, causeID, func(tx *sql.Tx) error {
		var undone sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT undone_at FROM invalidations WHERE id = ? AND cause_id = ?`, id, causeID).Scan(&undone)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if undone.Valid {
			return ErrUndone
		}
		res, err := tx.ExecContext(ctx, `UPDATE signatures SET invalidation_id = NULL
			WHERE id IN (SELECT id FROM `+invalidatedSignatures+` WHERE invalidation_id = ?)`, id)
		if err != nil {
			return err
		}
		if back, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invalidations SET undone_at = ?, undone_by = ? WHERE id = ?`, now, admin.ID, id); err != nil {
			return err
		}
		return logModeration(ctx, tx, admin.ID, ActUndo, causeID, fmt.Sprintf("#%d: %d signatures back", id, back), now)
	})
	if err != nil {
		return 0, fmt.Errorf("undo invalidation: %w", err)
	}
	return back, nil
}

// Invalidations returns a cause's invalidations, newest first.
func (s *Store) Invalidations(ctx context.Context, causeID int64) ([]Invalidation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT i.id, i.network, i.domain, i.since, i.until, i.reason, i.signatures, o.name,
		i.created_at, i.undone_at FROM invalidations i JOIN organisers o ON o.id = i.admin_id
		WHERE i.cause_id = ? ORDER BY i.id DESC LIMIT 100`, causeID)
	if err != nil {
		return nil, fmt.Errorf("invalidations: %w", err)
	}
	defer rows.Close()
	var out []Invalidation
	for rows.Next() {
		inv := Invalidation{CauseID: causeID}
		var since, until, undone sql.NullTime
		if err := rows.Scan(&inv.ID, &inv.Network, &inv.Domain, &since, &until, &inv.Reason, &inv.Signatures, &inv.Admin,
			&inv.CreatedAt, &undone); err != nil {
			return nil, fmt.Errorf("invalidations: %w", err)
		}
		inv.Since, inv.Until, inv.UndoneAt = timePtr(since), timePtr(until), timePtr(undone)
		out = append(out, inv)
	}
	return out, rows.Err()
}

// Activity is a burst of signings of one cause from one network, with one
// email domain, or with one address, over the last hour.
type Activity struct {
	CauseID   int64
	Kind      string // "network", "domain" or "address"
	Value     string
	Count     int64
	Held      int64
	Confirmed int64
}

// What counts as unusual in an hour: this many signings of one cause from
// one network or with one domain (large mailbox providers aside), or with
// one address (each signing before confirming is a row of its own).
const (
	unusualGroup   = 10
	unusualAddress = 3
)

// Suspicious returns the bursts of signings since the given time, of one
// cause or of every one when causeID is 0, the largest first. Signature
// ids grow with time (see NewSignatureToken), so the last hour's
// signatures are a range of the primary key.
func (s *Store) Suspicious(ctx context.Context, causeID int64, since time.Time, limit int) ([]Activity, error) {
	from := since.UnixNano()
	var out []Activity
	for _, q := range []struct {
		kind, expr string
		min        int
	}{
		{"network", "network", unusualGroup},
		{"domain", "substr(email_key, instr(email_key, '@') + 1)", unusualGroup},
		{"address", "email_key", unusualAddress},
	} {
		value := q.expr
		if q.kind == "address" {
			value = "max(email)"
		}
		rows, err := s.r.QueryContext(ctx, `SELECT cause_id, `+value+`, `+q.expr+` AS grp, count(*), sum(held), count(confirmed_at)
			FROM signatures WHERE id >= ? AND (? = 0 OR cause_id = ?) AND invalidation_id IS NULL AND email <> ''
			GROUP BY cause_id, grp HAVING grp <> '' AND count(*) >= ? ORDER BY count(*) DESC LIMIT ?`,
			from, causeID, causeID, q.min, limit*2)
		if err != nil {
			return nil, fmt.Errorf("suspicious activity: %w", err)
		}
		for rows.Next() {
			a := Activity{Kind: q.kind}
			var grp string
			if err := rows.Scan(&a.CauseID, &a.Value, &grp, &a.Count, &a.Held, &a.Confirmed); err != nil {
				rows.Close()
				return nil, fmt.Errorf("suspicious activity: %w", err)
			}
			if q.kind == "domain" && largeProviders[a.Value] {
				continue
			}
			out = append(out, a)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("suspicious activity: %w", err)
		}
	}
	// The largest bursts first, whatever their kind.
	sortActivity(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
