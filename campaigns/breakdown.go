package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// moveBreakdowns moves each cause's counts by country and by day for the
// confirmations of a writer's batch, in the batch's transaction: one row
// written per cause, country and day, not one per confirmation.
func moveBreakdowns(ctx context.Context, tx *sql.Tx, done []*unit) error {
	type key struct {
		cause int64
		v     string
	}
	countries, days := map[key]int64{}, map[key]int64{}
	for _, u := range done {
		if m, ok := u.value.(*countMove); ok && m.causeID != 0 {
			countries[key{m.causeID, m.country}]++
			days[key{m.causeID, m.day}]++
		}
	}
	for k, n := range countries {
		if err := addCountry(ctx, tx, k.cause, k.v, n); err != nil {
			return err
		}
	}
	for k, n := range days {
		if err := addDay(ctx, tx, k.cause, k.v, n); err != nil {
			return err
		}
	}
	return nil
}

// addBreakdowns adds confirmed signatures of a cause to its breakdowns.
func addBreakdowns(ctx context.Context, tx *sql.Tx, causeID int64, byCountry, byDay map[string]int64) error {
	for c, n := range byCountry {
		if err := addCountry(ctx, tx, causeID, c, n); err != nil {
			return err
		}
	}
	for d, n := range byDay {
		if err := addDay(ctx, tx, causeID, d, n); err != nil {
			return err
		}
	}
	return nil
}

func addCountry(ctx context.Context, tx *sql.Tx, causeID int64, country string, n int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO cause_countries (cause_id, country, signatures) VALUES (?, ?, ?)
		ON CONFLICT (cause_id, country) DO UPDATE SET signatures = signatures + excluded.signatures`, causeID, country, n)
	if err != nil {
		return fmt.Errorf("count signatures by country: %w", err)
	}
	return nil
}

func addDay(ctx context.Context, tx *sql.Tx, causeID int64, day string, n int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO cause_days (cause_id, day, signatures) VALUES (?, ?, ?)
		ON CONFLICT (cause_id, day) DO UPDATE SET signatures = signatures + excluded.signatures`, causeID, day, n)
	if err != nil {
		return fmt.Errorf("count signatures by day: %w", err)
	}
	return nil
}

// CountryCount is how many confirmed signatures came from one country
// (upper-case ISO code; "" when the signer gave none).
type CountryCount struct {
	Country string
	Count   int64
}

// SignaturesByCountry returns a cause's confirmed signatures by country,
// most first (ties by code).
func (s *Store) SignaturesByCountry(ctx context.Context, causeID int64) ([]CountryCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT country, signatures FROM cause_countries
		WHERE cause_id = ? AND signatures > 0 ORDER BY signatures DESC, country`, causeID)
	if err != nil {
		return nil, fmt.Errorf("signatures by country: %w", err)
	}
	defer rows.Close()
	var out []CountryCount
	for rows.Next() {
		var c CountryCount
		if err := rows.Scan(&c.Country, &c.Count); err != nil {
			return nil, fmt.Errorf("signatures by country: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DayCount is how many signatures were counted on one day (UTC).
type DayCount struct {
	Day   time.Time
	Count int64
}

// SignaturesByDay returns a cause's confirmations a day for the days
// ending with the day of until, oldest first, days without any included.
func (s *Store) SignaturesByDay(ctx context.Context, causeID int64, until time.Time, days int) ([]DayCount, error) {
	last := until.UTC().Truncate(24 * time.Hour)
	first := last.AddDate(0, 0, -(days - 1))
	rows, err := s.r.QueryContext(ctx, `SELECT day, signatures FROM cause_days WHERE cause_id = ? AND day >= ? AND day <= ?`,
		causeID, first.Format(time.DateOnly), last.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("signatures by day: %w", err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var d string
		var n int64
		if err := rows.Scan(&d, &n); err != nil {
			return nil, fmt.Errorf("signatures by day: %w", err)
		}
		got[d] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signatures by day: %w", err)
	}
	out := make([]DayCount, days)
	for i := range out {
		d := first.AddDate(0, 0, i)
		out[i] = DayCount{Day: d, Count: got[d.Format(time.DateOnly)]}
	}
	return out, nil
}

// countryMap is the JSON's signatures_by_country.
func countryMap(counts []CountryCount) map[string]int64 {
	m := make(map[string]int64, len(counts))
	for _, c := range counts {
		if c.Country != "" {
			m[c.Country] = c.Count
		}
	}
	return m
}

// countryChart reads and lays out a cause's countries breakdown in the
// request's language; nil when no signature is confirmed.
func (h *Handler) countryChart(c *gin.Context, cz Cause) (*countryChart, error) {
	counts, err := h.store.SignaturesByCountry(c.Request.Context(), cz.ID)
	if err != nil {
		return nil, err
	}
	lang := templates.LangOf(c)
	return newCountryChart(lang, counts, h.rdr.Catalogue.T(lang, "BreakdownOther"), h.rdr.Catalogue.T(lang, "BreakdownUnknown")), nil
}

// Chart geometry, in the SVG's own units: the picture scales to its box's
// width and its text with it.
const (
	chartWidth   = 400
	barRowHeight = 30
	barHeight    = 20
	labelWidth   = 160
	numberWidth  = 80
	maxChartBars = 10
	maxLabelRune = 16
)

// countryBar is one row of the countries chart.
type countryBar struct {
	Label          string
	Count          int64
	Y, TextY       int
	Width, NumberX int
}

// countryRow is one row of the countries table.
type countryRow struct {
	Name  string
	Code  string
	Count int64
	Share string // percent of all, one decimal
}

// countryChart is the countries breakdown: a table and a bar chart of its
// first rows.
type countryChart struct {
	Rows   []countryRow
	Bars   []countryBar
	Height int
	Total  int64
	// LabelX, BarX are where labels end and bars start.
	LabelX, BarX int
}

// newCountryChart lays out the countries' table and chart in lang; other
// is the label of the bar that sums the countries past the first ones,
// unknown that of signatures with no country.
func newCountryChart(lang string, counts []CountryCount, other, unknown string) *countryChart {
	if len(counts) == 0 {
		return nil
	}
	ch := &countryChart{LabelX: labelWidth - 8, BarX: labelWidth}
	for _, c := range counts {
		ch.Total += c.Count
	}
	name := func(code string) string {
		if code == "" {
			return unknown
		}
		return CountryName(lang, code)
	}
	for _, c := range counts {
		share := fmt.Sprintf("%.1f", float64(c.Count)*100/float64(ch.Total))
		if lang == "fr" {
			share = strings.Replace(share, ".", ",", 1)
		}
		ch.Rows = append(ch.Rows, countryRow{Name: name(c.Country), Code: c.Country, Count: c.Count, Share: share})
	}
	bars := counts
	if len(counts) > maxChartBars {
		bars = append([]CountryCount(nil), counts[:maxChartBars-1]...)
		var rest int64
		for _, c := range counts[maxChartBars-1:] {
			rest += c.Count
		}
		bars = append(bars, CountryCount{Country: "\x00", Count: rest})
	}
	var most int64
	for _, b := range bars {
		most = max(most, b.Count)
	}
	span := chartWidth - labelWidth - numberWidth
	for i, b := range bars {
		label := other
		if b.Country != "\x00" {
			label = shorten(name(b.Country), maxLabelRune)
		}
		w := int(int64(span) * b.Count / max(most, 1))
		ch.Bars = append(ch.Bars, countryBar{Label: label, Count: b.Count, Y: i*barRowHeight + (barRowHeight-barHeight)/2,
			TextY: i*barRowHeight + barRowHeight/2, Width: max(w, 1), NumberX: labelWidth + max(w, 1) + 6})
	}
	ch.Height = len(ch.Bars) * barRowHeight
	return ch
}

// shorten cuts s to n runes, with an ellipsis when it was longer.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// dayBar is one column of the days chart.
type dayBar struct {
	Day          time.Time
	Count        int64
	X, Y, Height int
}

// dayChart is the signatures-a-day breakdown: a column chart and a table.
type dayChart struct {
	Bars          []dayBar
	Most          int64
	Total         int64
	Width, Height int
	BarWidth      int
	// Base is the y of the columns' foot; the axis labels go under it.
	Base, LabelY int
}

const (
	dayColumn   = 20
	dayGap      = 4
	dayAreaTall = 120
	// breakdownDays is how many days the dashboard's chart shows.
	breakdownDays = 30
)

func newDayChart(days []DayCount) *dayChart {
	ch := &dayChart{BarWidth: dayColumn - dayGap, Base: dayAreaTall + 20, LabelY: dayAreaTall + 40}
	for _, d := range days {
		ch.Most = max(ch.Most, d.Count)
		ch.Total += d.Count
	}
	for i, d := range days {
		h := int(int64(dayAreaTall) * d.Count / max(ch.Most, 1))
		if d.Count > 0 {
			h = max(h, 2)
		}
		ch.Bars = append(ch.Bars, dayBar{Day: d.Day, Count: d.Count, X: i * dayColumn, Y: ch.Base - h, Height: h})
	}
	ch.Width = len(days) * dayColumn
	ch.Height = ch.LabelY + 8
	return ch
}
