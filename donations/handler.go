package donations

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// Causes finds causes by slug, and hears that donations changed what the
// causes show; *campaigns.Store is one.
type Causes interface {
	FindCauseBySlug(ctx context.Context, slug string) (campaigns.Cause, error)
	CausesChanged()
}

// Handler serves the donate form and pages, the Stripe webhook, the cancel
// link of monthly gifts and the organisers' donation ledger.
type Handler struct {
	cfg    Config
	store  *Store
	causes Causes
	rdr    *templates.Renderer
	stripe *stripeClient // nil while donations are off

	versionsSeen sync.Map // API versions already warned about
}

// NewHandler returns the donations handler. With either Stripe key missing,
// or a configuration Validate refuses, donations are off: the public routes
// answer 404, DonateForm returns nil and the organiser page says how to turn
// them on. It also sets the currency store.Totals counts in.
func NewHandler(cfg Config, store *Store, causes Causes, rdr *templates.Renderer) *Handler {
	if err := cfg.Validate(); err != nil {
		slog.Error("donations off", slog.Any("error", err))
		cfg.SecretKey, cfg.WebhookSecret, cfg.Currency = "", "", ""
	}
	cfg.Currency = cfg.currency()
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	store.currency = cfg.Currency
	h := &Handler{cfg: cfg, store: store, causes: causes, rdr: rdr}
	if cfg.Enabled() {
		h.stripe = newStripeClient(cfg)
		slog.Info("donations on", slog.String("currency", cfg.Currency), slog.Bool("test_mode", strings.HasPrefix(cfg.SecretKey, "sk_test_")))
	} else {
		slog.Info("donations off: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to take donations through Stripe")
	}
	return h
}

// Enabled reports whether donations are on.
func (h *Handler) Enabled() bool { return h.cfg.Enabled() }

// PublicRoutes mounts the routes anyone may call, none of which uses a
// cookie: the donate page and form, the page Stripe sends donors back to,
// the Stripe webhook (which takes cross-origin posts), and the cancel link
// of monthly gifts (its token is the authority).
func (h *Handler) PublicRoutes(r gin.IRoutes) {
	r.GET("/c/:slug/donate", h.donatePage)
	r.POST("/c/:slug/donate", h.donate)
	r.GET("/c/:slug/donate/thanks", h.thanks)
	r.POST("/webhooks/stripe", h.webhook)
	r.GET("/donations/cancel/:token", h.cancelPage)
	r.POST("/donations/cancel/:token", h.cancelMonthly)
}

// OrganiserRoutes mounts the organiser's donation pages behind the
// caller's authentication; ownsCause says whether the signed-in organiser may
// see the cause (its owner, or an admin).
func (h *Handler) OrganiserRoutes(r gin.IRoutes, ownsCause func(c *gin.Context, slug string) bool) {
	guard := func(next func(*gin.Context, campaigns.Cause)) gin.HandlerFunc {
		return func(c *gin.Context) {
			slug := c.Param("slug")
			cause, err := h.causes.FindCauseBySlug(c.Request.Context(), slug)
			if errors.Is(err, campaigns.ErrNotFound) || (err == nil && !ownsCause(c, slug)) {
				if !c.IsAborted() {
					c.AbortWithStatus(http.StatusNotFound)
				}
				return
			}
			if err != nil {
				_ = c.Error(err)
				c.AbortWithStatus(http.StatusInternalServerError)
				return
			}
			next(c, cause)
		}
	}
	r.GET("/campaigns/:slug/donations", guard(h.dashboard))
	r.GET("/campaigns/:slug/donations.csv", guard(h.exportCSV))
	r.POST("/campaigns/:slug/donations/goal", guard(h.setGoal))
}

// DonateForm returns the data of the "donate-form" partial for a cause, in
// lang, with email prefilled (the signer's, on the thank-you page; or "").
// It is nil when donations are off or the cause is a draft.
func (h *Handler) DonateForm(lang string, cause campaigns.Cause, email string) *DonateForm {
	if !h.cfg.Enabled() || !cause.Public() {
		return nil
	}
	f := newDonateForm(h.rdr.Catalogue, lang, h.cfg.Currency, cause.Slug)
	f.Email = email
	return f
}

// publicCause finds the cause of the request, answering 404 for one that
// does not exist or is a draft, or while donations are off.
func (h *Handler) publicCause(c *gin.Context) (campaigns.Cause, bool) {
	if !h.cfg.Enabled() {
		c.AbortWithStatus(http.StatusNotFound)
		return campaigns.Cause{}, false
	}
	cause, err := h.causes.FindCauseBySlug(c.Request.Context(), c.Param("slug"))
	if errors.Is(err, campaigns.ErrNotFound) || (err == nil && !cause.Public()) {
		c.AbortWithStatus(http.StatusNotFound)
		return campaigns.Cause{}, false
	}
	if err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return campaigns.Cause{}, false
	}
	return cause, true
}

// donatePageData is the data of donations/donate.html.
type donatePageData struct {
	Cause campaigns.Cause
	Form  *DonateForm
}

func (h *Handler) renderDonate(c *gin.Context, status int, cause campaigns.Cause, f *DonateForm) {
	if t, err := h.store.Totals(c.Request.Context(), cause.ID); err == nil {
		f.Totals = &t
	} else {
		slog.Warn("donation totals", slog.Any("error", err))
	}
	lang := templates.LangOf(c)
	h.rdr.HTML(c, status, "donations/donate.html", &templates.Page{
		Title: h.rdr.Catalogue.T(lang, "DonateTitle", "Title", cause.Title), Description: cause.Summary,
		NoIndex: status != http.StatusOK, Data: donatePageData{Cause: cause, Form: f}})
}

// donatePage is the standalone donate page; Stripe's cancel URL leads back
// to it with ?canceled=1.
func (h *Handler) donatePage(c *gin.Context) {
	cause, ok := h.publicCause(c)
	if !ok {
		return
	}
	f := h.DonateForm(templates.LangOf(c), cause, "")
	if c.Query("canceled") != "" {
		f.Problem = f.T("DonateCheckoutCanceled")
	}
	h.renderDonate(c, http.StatusOK, cause, f)
}

// donate starts Stripe Checkout: it writes the donation under a fresh
// reference, then, with no transaction open, creates the Checkout Session
// and answers 303 to Stripe's page. If Stripe fails nothing is charged or
// counted, and the donor gets the form back with a "try again".
func (h *Handler) donate(c *gin.Context) {
	cause, ok := h.publicCause(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	lang := templates.LangOf(c)
	var in donateInput
	if err := c.ShouldBind(&in); err != nil {
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	req, errs := in.validate(h.cfg.Currency)
	if len(errs) > 0 {
		f := h.DonateForm(lang, cause, "")
		f.refill(in, errs)
		h.renderDonate(c, http.StatusUnprocessableEntity, cause, f)
		return
	}
	d := &Donation{Ref: rand.Text(), CauseID: cause.ID, Email: req.Email, Lang: lang, AmountMinor: req.AmountMinor,
		Currency: h.cfg.Currency, Monthly: req.Monthly}
	var supporterID int64
	if req.Email != "" {
		id, err := h.store.supporterByEmail(ctx, notify.EmailKey(req.Email))
		switch {
		case err == nil:
			supporterID, d.SupporterID = id, &id
		case !errors.Is(err, ErrNotFound):
			slog.Warn("donation: find supporter", slog.Any("error", err))
		}
	}
	if err := h.store.createDonation(ctx, d); err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusServiceUnavailable)
		return
	}
	sessionID, pageURL, err := h.stripe.createSession(ctx, checkoutRequest{
		Donation: d, Slug: cause.Slug, SupporterID: supporterID, Locale: lang,
		ProductName: truncate(h.rdr.Catalogue.T(lang, "DonateProductName", "Title", cause.Title), 200),
		SuccessURL:  h.cfg.BaseURL + "/c/" + cause.Slug + "/donate/thanks",
		CancelURL:   h.cfg.BaseURL + "/c/" + cause.Slug + "/donate?canceled=1",
	})
	if err != nil {
		slog.Warn("stripe checkout failed", slog.String("cause", cause.Slug), slog.Any("error", err))
		if err := h.store.checkoutFailed(context.WithoutCancel(ctx), d.ID); err != nil {
			slog.Error("donation: record checkout failure", slog.Any("error", err))
		}
		f := h.DonateForm(lang, cause, "")
		f.refill(in, nil)
		f.Problem = f.T("DonateStripeDown")
		h.renderDonate(c, http.StatusServiceUnavailable, cause, f)
		return
	}
	// The reference, not this row, is what the webhook matches: if this
	// write fails the donor can still pay and the payment is still counted.
	if err := h.store.checkoutStarted(context.WithoutCancel(ctx), d.ID, sessionID); err != nil {
		slog.Error("donation: record checkout session", slog.Any("error", err))
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, pageURL)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// thanks is where Stripe sends a donor after paying.
func (h *Handler) thanks(c *gin.Context) {
	cause, ok := h.publicCause(c)
	if !ok {
		return
	}
	lang := templates.LangOf(c)
	h.rdr.HTML(c, http.StatusOK, "donations/thanks.html", &templates.Page{
		Title: h.rdr.Catalogue.T(lang, "DonateThanksTitle"), NoIndex: true, Data: donatePageData{Cause: cause}})
}

// cancelPageData is the data of donations/cancel.html.
type cancelPageData struct {
	CauseTitle string
	CauseURL   string
	Amount     string
	Action     string
	State      string // "active", "pending" (not set up yet) or "canceled"
	CanceledOn string
	Problem    string
}

func (h *Handler) cancelView(c *gin.Context) (Donation, cancelPageData, bool) {
	if !h.cfg.Enabled() {
		c.AbortWithStatus(http.StatusNotFound)
		return Donation{}, cancelPageData{}, false
	}
	token := c.Param("token")
	d, title, slug, err := h.store.donationByCancelToken(c.Request.Context(), token)
	if errors.Is(err, ErrNotFound) || (err == nil && !d.Monthly) {
		c.AbortWithStatus(http.StatusNotFound)
		return Donation{}, cancelPageData{}, false
	}
	if err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return Donation{}, cancelPageData{}, false
	}
	lang := templates.LangOf(c)
	v := cancelPageData{CauseTitle: title, CauseURL: "/c/" + slug, Action: "/donations/cancel/" + token,
		Amount: formatMoney(h.rdr.Catalogue, lang, d.AmountMinor, d.Currency), State: "active"}
	switch {
	case d.Status == StatusCanceled:
		v.State = "canceled"
		if d.CanceledAt != nil {
			v.CanceledOn = h.rdr.Catalogue.Date(lang, *d.CanceledAt)
		}
	case d.SubscriptionID == "":
		v.State = "pending"
	}
	return d, v, true
}

func (h *Handler) renderCancel(c *gin.Context, status int, v cancelPageData) {
	c.Header("Cache-Control", "no-store")
	h.rdr.HTML(c, status, "donations/cancel.html", &templates.Page{
		Title: h.rdr.Catalogue.T(templates.LangOf(c), "DonateCancelTitle"), NoIndex: true, Data: v})
}

// cancelPage shows a monthly gift and a button that stops it.
func (h *Handler) cancelPage(c *gin.Context) {
	if _, v, ok := h.cancelView(c); ok {
		h.renderCancel(c, http.StatusOK, v)
	}
}

// cancelMonthly stops a monthly gift through Stripe's API, outside any
// transaction, then records it; customer.subscription.deleted confirms it
// later and changes nothing more.
func (h *Handler) cancelMonthly(c *gin.Context) {
	d, v, ok := h.cancelView(c)
	if !ok {
		return
	}
	switch v.State {
	case "canceled":
		c.Redirect(http.StatusSeeOther, v.Action)
		return
	case "pending":
		h.renderCancel(c, http.StatusConflict, v)
		return
	}
	ctx := c.Request.Context()
	if err := h.stripe.cancelSubscription(ctx, d.SubscriptionID); err != nil {
		slog.Warn("stripe: cancel subscription failed", slog.Int64("donation", d.ID), slog.Any("error", err))
		v.Problem = h.rdr.Catalogue.T(templates.LangOf(c), "DonateCancelStripeDown")
		h.renderCancel(c, http.StatusServiceUnavailable, v)
		return
	}
	if err := h.store.monthlyCanceled(context.WithoutCancel(ctx), d.ID); err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Redirect(http.StatusSeeOther, v.Action)
}

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
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	monthly, err := h.store.ActiveMonthly(ctx, cause.ID)
	if err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	payments, err := h.store.Payments(ctx, cause.ID, dashboardRows+1)
	if err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
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
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cause.Slug+"/donations")
}

// exportCSV sends the cause's whole ledger as CSV, amounts in major units.
func (h *Handler) exportCSV(c *gin.Context, cause campaigns.Cause) {
	payments, err := h.store.Payments(c.Request.Context(), cause.ID, 0)
	if err != nil {
		_ = c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
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
		_ = w.Write([]string{p.PaidAt.Format("2006-01-02T15:04:05Z"), csvSafe(p.Email), kind, p.Currency,
			formatMajor(p.AmountMinor, p.Currency), formatMajor(min(p.RefundedMinor, p.AmountMinor), p.Currency),
			formatMajor(p.NetMinor(), p.Currency), p.StripeID, p.PaymentIntentID, p.SubscriptionID})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		slog.Warn("donations csv", slog.Any("error", err))
	}
}

// csvSafe keeps a spreadsheet from reading a cell as a formula: one that
// starts with = + - @ tab CR | or % (as the signatures export does) gets a
// leading apostrophe. An address may start with | or %.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r|%", rune(s[0])) {
		return "'" + s
	}
	return s
}
