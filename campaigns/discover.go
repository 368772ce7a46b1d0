package campaigns

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// listedCauses is the condition on a row of causes for the public to find
// it on the home page and in search: published, closed or won, never a
// draft, never hidden by an admin (listedCausesC where causes is joined
// as c). Whatever else
// keeps a cause from the public belongs here, once.
const listedCauses = `status IN ('published', 'closed', 'victory') AND hidden_at IS NULL`

// listedCausesC is listedCauses for a query that names causes c.
const listedCausesC = `c.status IN ('published', 'closed', 'victory') AND c.hidden_at IS NULL`

// ListPage returns page (from 1; out of range: the nearest) of the
// published, closed and won causes, newest first, size a page.
func (s *Store) ListPage(ctx context.Context, page, size int) (Listing, error) {
	var l Listing
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM causes WHERE `+listedCauses).Scan(&l.Total); err != nil {
		return Listing{}, fmt.Errorf("list causes: %w", err)
	}
	var from int
	l.Page, l.Pages, from = pageOf(page, l.Total, size)
	rows, err := s.r.QueryContext(ctx, `SELECT `+causeColumns+` FROM causes WHERE `+listedCauses+`
		ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?`, size, from)
	if err != nil {
		return Listing{}, fmt.Errorf("list causes: %w", err)
	}
	if l.Causes, err = collectCauses(rows); err != nil {
		return Listing{}, fmt.Errorf("list causes: %w", err)
	}
	return l, nil
}

// Trending is a cause moving now: its score weighs each signature
// confirmed in the last 24 hours by its age (see trendBuckets).
type Trending struct {
	Cause Cause
	// Recent is how many signatures it had confirmed in the last 24 hours.
	Recent int64
	Score  float64
}

// trendBuckets cut the last 24 hours by age; a signature confirmed in a
// bucket weighs 2^(-age/6h) at the bucket's middle, so one of an hour ago
// counts about seven times one of yesterday.
var trendBuckets = []time.Duration{time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// TrendingCauses returns up to limit open causes with the highest trending
// score, highest first; causes with no signature confirmed in the last 24
// hours are left out. Each count is a range of the (cause, confirmed_at)
// index, per open cause.
func (s *Store) TrendingCauses(ctx context.Context, limit int) ([]Trending, error) {
	now := s.now()
	args := make([]any, 0, len(trendBuckets)+3)
	for _, b := range trendBuckets {
		args = append(args, dbTime(now.Add(-b)))
	}
	args = append(args, now, dbTime(now.Add(-trendBuckets[len(trendBuckets)-1])))
	rows, err := s.r.QueryContext(ctx, trendingCounts, args...)
	if err != nil {
		return nil, fmt.Errorf("trending causes: %w", err)
	}
	defer rows.Close()
	type trend struct {
		id    int64
		n     int64
		score float64
	}
	var trends []trend
	for rows.Next() {
		var id int64
		counts := make([]int64, len(trendBuckets))
		dest := []any{&id}
		for i := range counts {
			dest = append(dest, &counts[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("trending causes: %w", err)
		}
		score, prev, lo := 0.0, int64(0), time.Duration(0)
		for i, hi := range trendBuckets {
			mid := (lo + hi) / 2
			score += float64(counts[i]-prev) * math.Exp2(-mid.Hours()/6)
			prev, lo = counts[i], hi
		}
		trends = append(trends, trend{id: id, n: counts[len(counts)-1], score: score})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("trending causes: %w", err)
	}
	slices.SortFunc(trends, func(a, b trend) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return int(b.id - a.id)
	})
	trends = trends[:min(limit, len(trends))]
	ids := make([]int64, len(trends))
	for i, t := range trends {
		ids[i] = t.id
	}
	causes, err := s.causesByID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("trending causes: %w", err)
	}
	out := make([]Trending, 0, len(causes))
	for _, c := range causes {
		i := slices.IndexFunc(trends, func(t trend) bool { return t.id == c.ID })
		out = append(out, Trending{Cause: c, Recent: trends[i].n, Score: trends[i].score})
	}
	return out, nil
}

// trendingCounts counts, for each open cause with a signature confirmed
// in the last 24 hours, its signatures confirmed since each of
// trendBuckets' ages.
var trendingCounts = func() string {
	q := `SELECT c.id`
	for range trendBuckets {
		q += `, (SELECT count(*) FROM signatures s WHERE s.cause_id = c.id AND s.confirmed_at >= ? AND s.held = 0 AND s.invalidation_id IS NULL)`
	}
	return q + ` FROM causes c WHERE ` + listedCausesC + ` AND c.status = 'published' AND (c.ends_at IS NULL OR c.ends_at > ?)
		AND EXISTS (SELECT 1 FROM signatures s WHERE s.cause_id = c.id AND s.confirmed_at >= ? AND s.held = 0 AND s.invalidation_id IS NULL)`
}()

// RecentVictories returns the limit causes most recently declared won.
func (s *Store) RecentVictories(ctx context.Context, limit int) ([]Cause, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+causeColumns+` FROM causes WHERE `+listedCauses+` AND status = 'victory'
		ORDER BY closed_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent victories: %w", err)
	}
	causes, err := collectCauses(rows)
	if err != nil {
		return nil, fmt.Errorf("recent victories: %w", err)
	}
	return causes, nil
}
