package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"

	"github.com/rallyhq/rally/notify"
)

// DataMigration is a migration step written in Go, for what SQL cannot do.
// It is a plain function type, so a migration runner can take the package's
// steps without importing it.
type DataMigration = func(ctx context.Context, tx *sql.Tx) error

// DataMigrations returns the package's data migrations by the name of the
// .sql migration each one follows. The migration runner calls a step right
// after applying its file, in the same transaction, so the two are applied
// together or not at all, and once.
func DataMigrations() map[string]DataMigration {
	return map[string]DataMigration{
		"006_email_keys_and_image_owners.sql": rekeyEmails,
		"010_search.sql":                      indexCauses,
	}
}

// nonASCII is a GLOB pattern matching text with a character outside ASCII:
// only such an address can have a key or a form that NormalizeEmail and
// EmailKey now make differently.
const nonASCII = "*[^\x01-\x7f]*"

// rekeyEmails recomputes the stored forms and comparison keys of the
// addresses in the package's tables, as NormalizeEmail and EmailKey now make
// them, and merges the rows whose new keys collide:
//
//   - signatures: of the confirmed signatures of one cause that are now one
//     person's, the one confirmed first stays counted; the others become
//     unconfirmed again (their links then say the signature is already
//     counted), and the cause's count drops by as many;
//   - supporters: the oldest row stays, every row elsewhere that refers to
//     the others (found through the foreign keys, whichever package owns the
//     table) is pointed at it, and the others are deleted;
//   - organisers: no account is merged or lost. The key goes to the one
//     whose key it already was, or else the first to have confirmed the
//     address, or else the oldest; the others keep their old key (their
//     sessions go on, but logging in with that address now finds the first
//     account) and are logged for an admin to settle.
//
// An address NormalizeEmail now refuses keeps its stored form.
func rekeyEmails(ctx context.Context, tx *sql.Tx) error {
	if err := rekeySignatures(ctx, tx); err != nil {
		return fmt.Errorf("rekey signatures: %w", err)
	}
	if err := rekeySupporters(ctx, tx); err != nil {
		return fmt.Errorf("rekey supporters: %w", err)
	}
	if err := rekeyOrganisers(ctx, tx); err != nil {
		return fmt.Errorf("rekey organisers: %w", err)
	}
	if err := rekeySignups(ctx, tx); err != nil {
		return fmt.Errorf("rekey sign-ups: %w", err)
	}
	return nil
}

// rekeySignups moves the sign-ups waiting for their link (migration 005) to
// the new forms. Nothing is unique among them, so nothing merges: opening
// one checks the organisers' keys, as moved by rekeyOrganisers.
func rekeySignups(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT token_hash, email, email_key FROM organiser_signups
		WHERE email GLOB ? OR email_key GLOB ?`, nonASCII, nonASCII)
	if err != nil {
		return err
	}
	type signup struct{ hash, email, key string }
	var moved []signup
	for rows.Next() {
		var r signup
		if err := rows.Scan(&r.hash, &r.email, &r.key); err != nil {
			rows.Close()
			return err
		}
		if email, key := rekeyed(r.email); email != r.email || key != r.key {
			moved = append(moved, signup{r.hash, email, key})
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range moved {
		if _, err := tx.ExecContext(ctx, `UPDATE organiser_signups SET email = ?, email_key = ? WHERE token_hash = ?`,
			r.email, r.key, r.hash); err != nil {
			return err
		}
	}
	return nil
}

// rekeyed returns an address's stored form and key as they are made now.
func rekeyed(email string) (string, string) {
	if n, err := notify.NormalizeEmail(email); err == nil {
		return n, notify.EmailKey(n)
	}
	return email, notify.EmailKey(email)
}

// addressRow is a row whose address's form or key changes.
type addressRow struct {
	id, group       int64 // group: the cause of a signature; 0 otherwise
	email, key      string
	newEmail        string
	newKey          string
	confirmedAt     sql.NullTime
	keep, unchanged bool
}

// changedAddresses returns the rows of query (selecting id, group, email,
// email_key, a confirmation time, for the nonASCII pattern twice) whose
// form or key changes.
func changedAddresses(ctx context.Context, tx *sql.Tx, query string) ([]*addressRow, error) {
	rows, err := tx.QueryContext(ctx, query, nonASCII, nonASCII)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*addressRow
	for rows.Next() {
		r := &addressRow{}
		if err := rows.Scan(&r.id, &r.group, &r.email, &r.key, &r.confirmedAt); err != nil {
			return nil, err
		}
		r.newEmail, r.newKey = rekeyed(r.email)
		if r.newEmail != r.email || r.newKey != r.key {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// groupByNewKey groups rows by group and new key, each group with the row
// of an unchanged address already holding that key, when lookup finds one.
func groupByNewKey(ctx context.Context, rows []*addressRow, only func(*addressRow) bool,
	lookup func(ctx context.Context, r *addressRow) (*addressRow, error)) ([][]*addressRow, error) {
	changed := map[int64]bool{}
	for _, r := range rows {
		changed[r.id] = true
	}
	type gk struct {
		group int64
		key   string
	}
	index := map[gk]int{}
	var groups [][]*addressRow
	for _, r := range rows {
		if !only(r) {
			continue
		}
		k := gk{r.group, r.newKey}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
			holder, err := lookup(ctx, r)
			if err != nil {
				return nil, err
			}
			if holder != nil && !changed[holder.id] {
				holder.unchanged = true
				groups[i] = append(groups[i], holder)
			}
		}
		groups[i] = append(groups[i], r)
	}
	return groups, nil
}

// setKeys writes the new forms and keys of rows with keep set, in two
// passes through keys no address has, so no row meets another's old key
// on the way.
func setKeys(ctx context.Context, tx *sql.Tx, table string, rows []*addressRow) error {
	for _, r := range rows {
		if !r.keep {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET email_key = ? WHERE id = ?`, fmt.Sprintf("#rekey-%d", r.id), r.id); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if !r.keep {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET email = ?, email_key = ? WHERE id = ?`, r.newEmail, r.newKey, r.id); err != nil {
			return err
		}
	}
	return nil
}

func rekeySignatures(ctx context.Context, tx *sql.Tx) error {
	rows, err := changedAddresses(ctx, tx, `SELECT id, cause_id, email, email_key, confirmed_at FROM signatures
		WHERE email GLOB ? OR email_key GLOB ?`)
	if err != nil || len(rows) == 0 {
		return err
	}
	for _, r := range rows {
		r.keep = true
	}
	groups, err := groupByNewKey(ctx, rows, func(r *addressRow) bool { return r.confirmedAt.Valid },
		func(ctx context.Context, r *addressRow) (*addressRow, error) {
			h := &addressRow{group: r.group}
			err := tx.QueryRowContext(ctx, `SELECT id, confirmed_at FROM signatures
				WHERE cause_id = ? AND email_key = ? AND confirmed_at IS NOT NULL`, r.group, r.newKey).Scan(&h.id, &h.confirmedAt)
			if err == sql.ErrNoRows {
				return nil, nil
			}
			return h, err
		})
	if err != nil {
		return err
	}
	uncounted := map[int64]int64{}
	for _, g := range groups {
		first := g[0]
		for _, r := range g[1:] {
			if r.confirmedAt.Time.Before(first.confirmedAt.Time) || (r.confirmedAt.Time.Equal(first.confirmedAt.Time) && r.id < first.id) {
				first = r
			}
		}
		for _, r := range g {
			if r == first {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE signatures SET confirmed_at = NULL WHERE id = ?`, r.id); err != nil {
				return err
			}
			uncounted[r.group]++
		}
	}
	if err := setKeys(ctx, tx, "signatures", rows); err != nil {
		return err
	}
	for cause, n := range uncounted {
		if _, err := tx.ExecContext(ctx, `UPDATE causes SET signature_count = max(signature_count - ?, 0) WHERE id = ?`, n, cause); err != nil {
			return err
		}
		slog.Info("migration: signatures counted more than once for one address now count once",
			slog.Int64("cause", cause), slog.Int64("uncounted", n))
	}
	return nil
}

func rekeySupporters(ctx context.Context, tx *sql.Tx) error {
	rows, err := changedAddresses(ctx, tx, `SELECT id, 0, email, email_key, NULL FROM supporters
		WHERE email GLOB ? OR email_key GLOB ?`)
	if err != nil || len(rows) == 0 {
		return err
	}
	groups, err := groupByNewKey(ctx, rows, func(*addressRow) bool { return true },
		func(ctx context.Context, r *addressRow) (*addressRow, error) {
			h := &addressRow{}
			err := tx.QueryRowContext(ctx, `SELECT id FROM supporters WHERE email_key = ?`, r.newKey).Scan(&h.id)
			if err == sql.ErrNoRows {
				return nil, nil
			}
			return h, err
		})
	if err != nil {
		return err
	}
	refs, err := references(ctx, tx, "supporters")
	if err != nil {
		return err
	}
	for _, g := range groups {
		first := g[0]
		for _, r := range g[1:] {
			if r.id < first.id {
				first = r
			}
		}
		first.keep = !first.unchanged
		for _, r := range g {
			if r == first {
				continue
			}
			for _, ref := range refs {
				if _, err := tx.ExecContext(ctx, `UPDATE `+ref[0]+` SET `+ref[1]+` = ? WHERE `+ref[1]+` = ?`, first.id, r.id); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM supporters WHERE id = ?`, r.id); err != nil {
				return err
			}
		}
	}
	return setKeys(ctx, tx, "supporters", rows)
}

// references returns the (table, column) pairs, quoted, whose foreign keys
// refer to table's id: the tables of every package, so a merge leaves no row
// pointing at a deleted one.
func references(ctx context.Context, tx *sql.Tx, table string) ([][2]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.name, p."from" FROM sqlite_master m, pragma_foreign_key_list(m.name) p
		WHERE m.type = 'table' AND p."table" = ? ORDER BY m.name`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		out = append(out, [2]string{quote(t), quote(c)})
	}
	return out, rows.Err()
}

func rekeyOrganisers(ctx context.Context, tx *sql.Tx) error {
	rows, err := changedAddresses(ctx, tx, `SELECT id, 0, email, email_key, email_confirmed_at FROM organisers
		WHERE email GLOB ? OR email_key GLOB ?`)
	if err != nil || len(rows) == 0 {
		return err
	}
	groups, err := groupByNewKey(ctx, rows, func(*addressRow) bool { return true },
		func(ctx context.Context, r *addressRow) (*addressRow, error) {
			h := &addressRow{}
			err := tx.QueryRowContext(ctx, `SELECT id FROM organisers WHERE email_key = ?`, r.newKey).Scan(&h.id)
			if err == sql.ErrNoRows {
				return nil, nil
			}
			return h, err
		})
	if err != nil {
		return err
	}
	for _, g := range groups {
		first := g[0] // the holder of the key, when there is one
		if !first.unchanged {
			for _, r := range g[1:] {
				if firstConfirmed(r, first) {
					first = r
				}
			}
			first.keep = true
		}
		if len(g) == 1 {
			continue
		}
		var others []int64
		for _, r := range g {
			if r != first {
				others = append(others, r.id)
			}
		}
		slog.Warn("migration: organiser accounts share one address once its international forms are compared; "+
			"each keeps its account, but logging in with the address finds only the first",
			slog.Int64("first", first.id), slog.Any("others", others))
	}
	return setKeys(ctx, tx, "organisers", rows)
}

// firstConfirmed reports whether organiser a has the better claim to an
// address than b: confirmed before b (or b never), or, neither confirmed,
// the older account.
func firstConfirmed(a, b *addressRow) bool {
	at, bt := a.confirmedAt, b.confirmedAt
	switch {
	case at.Valid && bt.Valid && !at.Time.Equal(bt.Time):
		return at.Time.Before(bt.Time)
	case at.Valid != bt.Valid:
		return at.Valid
	}
	return a.id < b.id
}
