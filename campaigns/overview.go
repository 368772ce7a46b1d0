package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// CauseStats counts a cause's signatures.
type CauseStats struct {
	Confirmed int64
	Pending   int64
}

// Stats counts the confirmed and pending signatures of a cause. Confirmed
// ones are counted as confirmations happen (causes.signature_count); pending
// ones are all of the cause's signatures, counted in the (cause_id) index,
// less those. One statement reads both, so they agree. Someone who signed
// twice before confirming is two pending signings until one link is used;
// the other then stays pending.
func (s *Store) Stats(ctx context.Context, causeID int64) (CauseStats, error) {
	var st CauseStats
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT signature_count FROM causes WHERE id = ?),
		(SELECT count(*) FROM signatures WHERE cause_id = ?)`, causeID, causeID).Scan(&st.Confirmed, &st.Pending)
	if err != nil {
		return st, fmt.Errorf("cause stats: %w", err)
	}
	st.Pending = max(st.Pending-st.Confirmed, 0)
	return st, nil
}

// SignatureRow is one signature as the organiser sees it.
type SignatureRow struct {
	ID          int64
	Name        string
	Email       string
	Country     string
	Postcode    string
	Comment     string
	Public      bool
	Updates     bool
	CreatedAt   time.Time
	ConfirmedAt *time.Time
}

// ListConfirmedSignatures returns a page of a cause's confirmed signatures,
// newest first, with ids below before (0 for the first page). Signatures
// not confirmed are left out: anyone can type anyone's name and address into
// a sign form, and until its owner confirms, neither is the organiser's to
// see (Stats counts them).
func (s *Store) ListConfirmedSignatures(ctx context.Context, causeID, before int64, limit int) ([]SignatureRow, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT s.id, s.name, s.email, s.country, s.postcode, s.comment, s.is_public,
		s.consent_updates, s.created_at, s.confirmed_at
		FROM signatures s
		WHERE s.cause_id = ? AND s.id < ? AND s.confirmed_at IS NOT NULL ORDER BY s.id DESC LIMIT ?`, causeID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list signatures: %w", err)
	}
	defer rows.Close()
	var out []SignatureRow
	for rows.Next() {
		var r SignatureRow
		var confirmed sql.NullTime
		if err := rows.Scan(&r.ID, &r.Name, &r.Email, &r.Country, &r.Postcode, &r.Comment, &r.Public, &r.Updates,
			&r.CreatedAt, &confirmed); err != nil {
			return nil, fmt.Errorf("list signatures: %w", err)
		}
		r.ConfirmedAt = timePtr(confirmed)
		out = append(out, r)
	}
	return out, rows.Err()
}

type overviewData struct {
	Cause      Cause
	Stats      CauseStats
	Goal       int64
	Rows       []SignatureRow
	Next       int64
	URL        string
	Problem    string
	Confirmed  bool
	CanPublish bool
	Open       bool
	EndsPassed bool
	// Ended is when the cause stopped taking signatures, if it has.
	Ended       *time.Time
	DonationsOn bool
	// CountryNames names the countries of Rows in the page's language.
	CountryNames map[string]string
}

func (h *Handler) overview(c *gin.Context) {
	cz, o, ok := h.ownCause(c)
	if !ok {
		return
	}
	h.renderOverview(c, http.StatusOK, cz, o, "")
}

func (h *Handler) renderOverview(c *gin.Context, status int, cz Cause, o Organiser, problem string) {
	st, err := h.store.Stats(c.Request.Context(), cz.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	const perPage = 50
	rows, err := h.store.ListConfirmedSignatures(c.Request.Context(), cz.ID, before, perPage+1)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := overviewData{Cause: cz, Stats: st, Goal: NextGoal(cz.SignatureCount, cz.Goal), URL: h.causeURL(cz), Problem: problem,
		Confirmed: o.EmailConfirmed(), Open: cz.Open(h.store.now()),
		EndsPassed: cz.EndsAt != nil && !h.store.now().Before(*cz.EndsAt), Ended: cz.EndedAt(h.store.now())}
	d.CanPublish = cz.Status == Draft || (cz.Status == Closed && !d.EndsPassed)
	if len(rows) > perPage {
		rows = rows[:perPage]
		d.Next = rows[perPage-1].ID
	}
	d.Rows = rows
	d.CountryNames = map[string]string{}
	for _, r := range rows {
		d.CountryNames[r.Country] = CountryName(templates.LangOf(c), r.Country)
	}
	if h.cfg.Donations != nil {
		_, d.DonationsOn, _ = h.cfg.Donations.Totals(c.Request.Context(), templates.LangOf(c), cz)
	}
	c.Header("Cache-Control", "private, no-store")
	h.rdr.HTML(c, status, "campaigns/overview.html", &templates.Page{Title: cz.Title, NoIndex: true, Wide: true, Data: d})
}
