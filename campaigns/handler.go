package campaigns

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

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
	// Secret keys the links in signing mails that withdraw a signature
	// (RALLY_SECRET); empty: a key of the process's own.
	Secret []byte
	// PersonalData are the other features' parts of what Rally holds on a
	// person, for the privacy requests (see PersonalData).
	PersonalData []PersonalData
	// RetentionDays is how long after a cause closes its signers are
	// anonymised, as the privacy page says (see Store.ForgetClosed).
	RetentionDays int
	// UpdateMail makes the email of an update whose organiser asked for
	// one; nil: the request is only recorded with the update.
	UpdateMail UpdateMail
}

// Handler serves the public cause pages, signing and confirming, and the
// organiser's dashboard.
type Handler struct {
	store  *Store
	rdr    *templates.Renderer
	cfg    HandlerConfig
	pages  *pageCache
	causes *causeCache
	stamps *stamps
	bodies *bodyCache
	// updates keeps updates' bodies rendered, by update id.
	updates *bodyCache
	uploads *uploadLimit // images per organiser a day
	turns   *renderTurns // searches rendering at once
	trend   *trendingCache
	cards   *cardCache
	qrs     *qrCache
	// withdraw makes the links that withdraw one signature.
	withdraw *withdrawTokens
	// hearts bounds the hearts a reason gets from one network a day.
	hearts *heartLimit
	// supporters keeps organisation pages' counts of supporters.
	supporters *supporterCounts
	// updateMail keeps one update from getting two emails when its form
	// is sent twice at once.
	updateMail sync.Mutex
}

// NewHandler returns the campaigns handlers. Their caches hear of every
// change to a cause from the store (see Store.OnChange).
func NewHandler(store *Store, rdr *templates.Renderer, cfg HandlerConfig) *Handler {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.RetentionDays <= 0 {
		cfg.RetentionDays = 180
	}
	h := &Handler{store: store, rdr: rdr, cfg: cfg, pages: newPageCache(), causes: newCauseCache(), stamps: newStamps(),
		bodies: newBodyCache(), updates: newBodyCache(), uploads: newUploadLimit(), turns: newRenderTurns(2, 3*time.Second), trend: &trendingCache{},
		cards: newCardCache(), qrs: &qrCache{m: map[string][]byte{}},
		withdraw: newWithdrawTokens(cfg.Secret), hearts: newHeartLimit(),
		supporters: &supporterCounts{m: map[int64]supporterCount{}}}
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
	r.GET("/c/:slug/recruits/:token", h.recruits)
	r.GET("/c/:slug/card.png", h.card)
	r.GET("/c/:slug/qr.png", h.qr)
	r.GET("/c/:slug/poster", h.poster)
	r.GET("/c/:slug/embed", h.embed)
	r.POST("/c/:slug/embed/sign", h.embedSign)
	r.GET("/c/:slug/embed/sign", h.toEmbed)
	r.GET("/confirm/:token", h.confirmPage)
	r.POST("/confirm/:token", h.confirm)
	r.GET("/uploads/:name", h.upload)
	r.GET("/privacy", h.privacy)
	r.GET("/c/:slug/report", h.reportPage)
	r.POST("/c/:slug/report", h.report)
	r.POST("/privacy/request", h.requestPrivacy)
	r.GET("/privacy/:token", h.privacyLink)
	r.POST("/privacy/:token", h.usePrivacyLink)
	r.GET("/withdraw/:token", h.withdrawPage)
	r.POST("/withdraw/:token", h.withdrawSignature)
	r.GET("/c/:slug/updates.atom", h.updatesFeed)
	r.GET("/org/:handle", h.orgPage)
	r.GET("/c/:slug/comments", h.reasonsPage)
	r.POST("/c/:slug/comments/:id/heart", h.heart)
	r.GET("/org/:handle/card.png", h.orgCard)
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
