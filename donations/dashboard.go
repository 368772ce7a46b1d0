package donations

import (
	"encoding/csv"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/templates"
)

// dashboardData is the data of donations/dashboard.html.
type dashboardData struct {
	Cause         campaigns.Cause
	Enabled       bool
	Totals        Totals
	CurrencyCode  string // EUR
	Raised        string
	GoalText      string
	Goal          string // the goal in major units, for the form
	GoalError     string
	ActiveMonthly int64
	Rows          []paymentRow
	More          bool // the table shows the latest rows only; the CSV has all
	CSVURL        string
	GoalAction    string
}

type paymentRow struct {
	Date     string
	Email    string
	Monthly  bool
	Amount   string
	Refunded string // empty when nothing was refunded
}

const dashboardRows = 200

func (h *Handler) dashboard(c *gin.Context, cause campaigns.Cause) {
	h.renderDashboard(c, http.StatusOK, cause, "", "")
}

func (h *Handler) renderDashboard(c *gin.Context, status int, cause campaigns.Cause, goalInput, goalError string) {
	ctx := c.Request.Context()
	lang := templates.LangOf(c)
	cat := h.rdr.Catalogue
	totals, err := h.store.Totals(ctx, cause.ID)
	if err != nil {
		templates.Fail(c, err)
		return
	}
	monthly, err := h.store.ActiveMonthly(ctx, cause.ID)
	if err != nil {
		templates.Fail(c, err)
		return
	}
	payments, err := h.store.Payments(ctx, cause.ID, dashboardRows+1)
	if err != nil {
		templates.Fail(c, err)
		return
	}
	money := func(minor int64, cur string) string { return formatMoney(cat, lang, minor, cur) }
	data := dashboardData{Cause: cause, Enabled: h.cfg.Enabled(), Totals: totals,
		CurrencyCode: strings.ToUpper(totals.Currency), Raised: money(totals.TotalMinor, totals.Currency),
		ActiveMonthly: monthly, GoalError: goalError, Goal: goalInput,
		CSVURL: "/campaigns/" + cause.Slug + "/donations.csv", GoalAction: "/campaigns/" + cause.Slug + "/donations/goal"}
	if totals.GoalMinor > 0 {
		data.GoalText = money(totals.GoalMinor, totals.Currency)
		if goalError == "" {
			data.Goal = formatMajor(totals.GoalMinor, totals.Currency)
		}
	}
	if len(payments) > dashboardRows {
		payments, data.More = payments[:dashboardRows], true
	}
	for _, p := range payments {
		row := paymentRow{Date: cat.Date(lang, p.PaidAt), Email: p.Email, Monthly: p.Monthly(), Amount: money(p.AmountMinor, p.Currency)}
		if p.RefundedMinor > 0 {
			row.Refunded = money(min(p.RefundedMinor, p.AmountMinor), p.Currency)
		}
		data.Rows = append(data.Rows, row)
	}
	h.rdr.HTML(c, status, "donations/dashboard.html", &templates.Page{
		Title: cat.T(lang, "DonateDashTitle", "Title", cause.Title), NoIndex: true, Wide: true, Data: data})
}

// setGoal sets or (empty) removes the cause's fundraising goal.
func (h *Handler) setGoal(c *gin.Context, cause campaigns.Cause) {
	in := strings.TrimSpace(c.PostForm("goal"))
	var goal int64
	if in != "" {
		var err error
		goal, err = parseMinor(in, currencies[h.cfg.Currency])
		if err != nil || goal <= 0 || goal > 1_000_000_000_000 {
			lang := templates.LangOf(c)
			h.renderDashboard(c, http.StatusUnprocessableEntity, cause, in, h.rdr.Catalogue.T(lang, "DonateDashGoalError"))
			return
		}
	}
	if err := h.store.SetGoal(c.Request.Context(), cause.ID, goal); err != nil {
		templates.Fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cause.Slug+"/donations")
}

// exportCSV sends the cause's whole ledger as CSV, amounts in major units.
func (h *Handler) exportCSV(c *gin.Context, cause campaigns.Cause) {
	payments, err := h.store.Payments(c.Request.Context(), cause.ID, 0)
	if err != nil {
		templates.Fail(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="donations-`+cause.Slug+`.csv"`)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	_ = w.Write([]string{"paid_at", "email", "kind", "currency", "amount", "refunded", "net", "stripe_id", "payment_intent", "subscription"})
	for _, p := range payments {
		kind := "one-off"
		if p.Monthly() {
			kind = "monthly"
		}
		_ = w.Write([]string{p.PaidAt.Format("2006-01-02T15:04:05Z"), templates.CSVCell(p.Email), kind, p.Currency,
			formatMajor(p.AmountMinor, p.Currency), formatMajor(min(p.RefundedMinor, p.AmountMinor), p.Currency),
			formatMajor(p.NetMinor(), p.Currency), p.StripeID, p.PaymentIntentID, p.SubscriptionID})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		slog.Warn("donations csv", slog.Any("error", err))
	}
}
