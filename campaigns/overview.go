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
	// Held counts the signatures held for review, confirmed or not.
	Held int64
}

// Stats counts the confirmed and pending signatures of a cause. Confirmed
// ones are counted as confirmations happen (causes.signature_count); pending
// ones are all of the cause's signatures, counted in the (cause_id) index,
// less those, those held for review and those invalidated (each counted
// in its partial index). One statement reads them all, so they agree. Someone who signed
// twice before confirming is two pending signings until one link is used;
// the other then stays pending.
func (s *Store) Stats(ctx context.Context, causeID int64) (CauseStats, error) {
	var st CauseStats
	var out int64
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT signature_count FROM causes WHERE id = ?),
		(SELECT count(*) FROM signatures WHERE cause_id = ?),
		(SELECT count(*) FROM `+heldSignatures+` WHERE cause_id = ? AND held = 1 AND invalidation_id IS NULL),
		(SELECT count(*) FROM `+invalidatedSignatures+`
			WHERE invalidation_id IN (SELECT id FROM invalidations WHERE cause_id = ?))`,
		causeID, causeID, causeID, causeID).Scan(&st.Confirmed, &st.Pending, &st.Held, &out)
	if err != nil {
		return st, fmt.Errorf("cause stats: %w", err)
	}
	st.Pending = max(st.Pending-st.Confirmed-st.Held-out, 0)
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

// ListConfirmedSignatures returns a page of a cause's counted signatures,
// newest first, with ids below before (0 for the first page). Signatures
// held for review, invalidated or anonymised are left out (Stats counts the
// held ones), and so are those not confirmed: anyone can type anyone's name and address into
// a sign form, and until its owner confirms, neither is the organiser's to
// see (Stats counts them).
func (s *Store) ListConfirmedSignatures(ctx context.Context, causeID, before int64, limit int) ([]SignatureRow, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT s.id, s.name, s.email, s.country, s.postcode, s.comment, s.is_public,
		s.consent_updates, s.created_at, s.confirmed_at
		FROM signatures s
		WHERE s.cause_id = ? AND s.id < ? AND s.confirmed_at IS NOT NULL
			AND s.held = 0 AND s.invalidation_id IS NULL AND s.email <> '' ORDER BY s.id DESC LIMIT ?`, causeID, before, limit)
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
	// Sharing is where signatures came from and what to share the cause
	// with; nil for a draft.
	Sharing *sharingData
	// Countries and Days are the signatures' breakdowns.
	Countries *countryChart
	Days      *dayChart
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
	if d.Countries, err = h.countryChart(c, cz); err != nil {
		h.fail(c, err)
		return
	}
	days, err := h.store.SignaturesByDay(c.Request.Context(), cz.ID, h.store.now(), breakdownDays)
	if err != nil {
		h.fail(c, err)
		return
	}
	d.Days = newDayChart(days)
	if h.cfg.Donations != nil {
		_, d.DonationsOn, _ = h.cfg.Donations.Totals(c.Request.Context(), templates.LangOf(c), cz)
	}
	if cz.Public() {
		if d.Sharing, err = h.sharing(c.Request.Context(), templates.LangOf(c), cz); err != nil {
			h.fail(c, err)
			return
		}
	}
	c.Header("Cache-Control", "private, no-store")
	h.rdr.HTML(c, status, "campaigns/overview.html", &templates.Page{Title: cz.Title, NoIndex: true, Wide: true, Data: d})
}
