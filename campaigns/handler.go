package campaigns

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// DonationTotals is what a cause has raised, for its page and JSON.
type DonationTotals struct {
	Currency   string
	TotalMinor int64
	Count      int64
}

// Donations is what the cause pages need from the donations feature. It is
// nil, or reports enabled=false, when Stripe is not configured.
type Donations interface {
	// Enabled reports whether Stripe is configured.
	Enabled() bool
	// Form returns the data of the "donate-form" partial, with what the
	// cause has raised, or nil when donations are off.
	Form(ctx context.Context, lang string, c Cause, email string) any
	// Totals returns what the cause has raised; enabled is false when off.
	Totals(ctx context.Context, lang string, c Cause) (t DonationTotals, enabled bool, err error)
}

// HandlerConfig configures the campaigns handlers.
type HandlerConfig struct {
	BaseURL   string
	UploadDir string
	Donations Donations
	// ContactEmail is the data controller's address, on the privacy page.
	ContactEmail string
}

// Handler serves the public cause pages, signing and confirming, and the
// organiser's dashboard.
type Handler struct {
	store   *Store
	rdr     *templates.Renderer
	cfg     HandlerConfig
	pages   *pageCache
	causes  *causeCache
	stamps  *stamps
	bodies  *bodyCache
	uploads *uploadLimit // images per organiser a day
}

// NewHandler returns the campaigns handlers. Their caches hear of every
// change to a cause from the store (see Store.OnChange).
func NewHandler(store *Store, rdr *templates.Renderer, cfg HandlerConfig) *Handler {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	h := &Handler{store: store, rdr: rdr, cfg: cfg, pages: newPageCache(), causes: newCauseCache(), stamps: newStamps(),
		bodies: newBodyCache(), uploads: newUploadLimit()}
	store.OnChange(h.causeChanged)
	return h
}

// PublicRoutes mounts the pages anyone may see and the signing routes.
func (h *Handler) PublicRoutes(r gin.IRoutes) {
	r.GET("/", h.home)
	r.GET("/c/:slug", h.cause)
	r.HEAD("/c/:slug", h.cause)
	r.POST("/c/:slug/sign", h.sign)
	r.GET("/c/:slug/sign", h.toCause)
	r.GET("/confirm/:token", h.confirmPage)
	r.POST("/confirm/:token", h.confirm)
	r.GET("/uploads/:name", h.upload)
	r.GET("/privacy", h.privacy)
}

// publicCache lets browsers revalidate at once but lets a CDN in front serve
// a page for a few seconds, and stale while it refetches, to absorb a spike.
func publicCache(c *gin.Context) {
	if _, signedIn := CurrentOrganiser(c); signedIn || templates.HasFlash(c) {
		c.Header("Cache-Control", "private, no-store")
		return
	}
	c.Header("Cache-Control", "public, max-age=0, s-maxage=5, stale-while-revalidate=30")
	c.Header("Vary", "Accept-Language, Cookie")
}

func (h *Handler) signedIn(c *gin.Context) bool {
	_, ok := CurrentOrganiser(c)
	return ok
}

func (h *Handler) renderPage(name string, p *templates.Page) ([]byte, error) {
	var b strings.Builder
	if err := h.rdr.Render(&b, name, p); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// badForm answers a form that could not be read: too large, or not a form.
func badForm(c *gin.Context, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || strings.Contains(err.Error(), "request body too large") {
		c.AbortWithStatus(http.StatusRequestEntityTooLarge)
		return
	}
	c.AbortWithStatus(http.StatusBadRequest)
}

func (h *Handler) badForm(c *gin.Context, err error) { badForm(c, err) }

func (h *Handler) fail(c *gin.Context, err error) { templates.Fail(c, err) }
