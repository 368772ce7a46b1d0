package donations

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/campaigns"
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
				templates.Fail(c, err)
				return
			}
			next(c, cause)
		}
	}
	r.GET("/campaigns/:slug/donations", guard(h.dashboard))
	r.GET("/campaigns/:slug/donations.csv", guard(h.exportCSV))
	r.POST("/campaigns/:slug/donations/goal", guard(h.setGoal))
}
