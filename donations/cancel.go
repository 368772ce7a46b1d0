package donations

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

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
		templates.Fail(c, err)
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
		templates.Fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, v.Action)
}
