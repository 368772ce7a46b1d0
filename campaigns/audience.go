package campaigns

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/rallyhq/rally/notify"
)

// BlastAudience gives blasts (notify) the causes and the people they go
// to: a cause's confirmed signers who asked for updates.
type BlastAudience struct {
	s       *Store
	baseURL string
}

// NewBlastAudience returns the audience of blasts read from s; baseURL
// makes the causes' links.
func NewBlastAudience(s *Store, baseURL string) *BlastAudience {
	return &BlastAudience{s: s, baseURL: strings.TrimRight(baseURL, "/")}
}

// Cause finds a cause by its slug, or returns notify.ErrNotFound.
func (a *BlastAudience) Cause(ctx context.Context, slug string) (notify.Cause, error) {
	cz, err := a.s.FindCauseBySlug(ctx, slug)
	if errors.Is(err, ErrNotFound) {
		return notify.Cause{}, notify.ErrNotFound
	}
	if err != nil {
		return notify.Cause{}, err
	}
	return notify.Cause{ID: cz.ID, OrganiserID: cz.OrganiserID, Slug: cz.Slug, Title: cz.Title, URL: a.baseURL + "/c/" + cz.Slug}, nil
}

// Recipients returns up to limit of the cause's confirmed signers who ticked
// updates (of countries, if any are given) with a signature id above
// after, in id order, and the last id. One confirmed signature per address
// and cause is a unique index, so each address comes once.
func (a *BlastAudience) Recipients(ctx context.Context, causeID int64, countries []string, after int64, limit int) ([]notify.Recipient, int64, error) {
	q := audienceRecipients
	args := []any{causeID, after}
	if len(countries) > 0 {
		q += ` AND country IN (` + strings.TrimSuffix(strings.Repeat("?,", len(countries)), ",") + `)`
		for _, c := range countries {
			args = append(args, c)
		}
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := a.s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, after, fmt.Errorf("blast audience: %w", err)
	}
	defer rows.Close()
	out := make([]notify.Recipient, 0, limit)
	last := after
	for rows.Next() {
		var r notify.Recipient
		var name string
		if err := rows.Scan(&r.ID, &r.Email, &name, &r.Lang, &r.Country); err != nil {
			return nil, after, fmt.Errorf("blast audience: %w", err)
		}
		r.FirstName = notify.FirstName(name)
		last = r.ID
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("blast audience: %w", err)
	}
	return out, last, nil
}

// Countries lists the countries of the cause's confirmed signers who
// ticked updates, most signers first, named in lang.
func (a *BlastAudience) Countries(ctx context.Context, causeID int64, lang string) ([]notify.Country, error) {
	rows, err := a.s.r.QueryContext(ctx, audienceCountries, causeID)
	if err != nil {
		return nil, fmt.Errorf("blast countries: %w", err)
	}
	defer rows.Close()
	var out []notify.Country
	for rows.Next() {
		var c notify.Country
		if err := rows.Scan(&c.Code, &c.Count); err != nil {
			return nil, fmt.Errorf("blast countries: %w", err)
		}
		c.Name = CountryName(lang, c.Code)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("blast countries: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
