package donations

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

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
		templates.Fail(c, err)
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
		templates.Fail(c, err)
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
