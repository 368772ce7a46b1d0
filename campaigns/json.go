package campaigns

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// causeJSON is the public JSON of a cause, a contract that embeds and
// partner sites depend on.
type causeJSON struct {
	Slug           string         `json:"slug"`
	Title          string         `json:"title"`
	Summary        string         `json:"summary"`
	Target         string         `json:"target"`
	Status         Status         `json:"status"`
	Goal           int64          `json:"goal"`
	SignatureCount int64          `json:"signature_count"`
	URL            string         `json:"url"`
	ImageURL       string         `json:"image_url,omitempty"`
	EndsAt         *time.Time     `json:"ends_at,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
	PublishedAt    *time.Time     `json:"published_at,omitempty"`
	Donations      *donationsJSON `json:"donations,omitempty"`
	// SignaturesByCountry counts confirmed signatures by upper-case
	// country code.
	SignaturesByCountry map[string]int64 `json:"signatures_by_country"`
}

type donationsJSON struct {
	Currency   string `json:"currency"`
	TotalMinor int64  `json:"total_minor"`
	Count      int64  `json:"count"`
}

// publicStatus is the status the world sees: a published cause past its end
// date is closed even before the closing job has run.
func (c Cause) publicStatus(now time.Time) Status {
	if c.Status == Published && !c.Open(now) {
		return Closed
	}
	return c.Status
}

func (h *Handler) causeJSON(c *gin.Context, slug string) {
	c.Header("Access-Control-Allow-Origin", "*")
	c.Header("Cache-Control", "public, max-age=0, s-maxage=5, stale-while-revalidate=30")
	h.servePage(c, slug, variant{lang: "json"}, "application/json; charset=utf-8", "", "", func() (rendered, bool) {
		return h.renderCauseJSON(c, slug)
	})
}

func (h *Handler) renderCauseJSON(c *gin.Context, slug string) (rendered, bool) {
	cz, err := h.store.FindCauseBySlug(c.Request.Context(), slug)
	if errors.Is(err, ErrNotFound) || (err == nil && !cz.Public()) {
		c.AbortWithStatus(http.StatusNotFound)
		return rendered{}, false
	}
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	j := causeJSON{Slug: cz.Slug, Title: cz.Title, Summary: cz.Summary, Target: cz.Target, Status: cz.publicStatus(h.store.now()),
		Goal: NextGoal(cz.SignatureCount, cz.Goal), SignatureCount: cz.SignatureCount, URL: h.causeURL(cz),
		EndsAt: cz.EndsAt, CreatedAt: cz.CreatedAt, PublishedAt: cz.PublishedAt}
	counts, err := h.store.SignaturesByCountry(c.Request.Context(), cz.ID)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	j.SignaturesByCountry = countryMap(counts)
	if cz.Image != "" {
		j.ImageURL = h.cfg.BaseURL + h.imageURL(cz)
	}
	if h.cfg.Donations != nil {
		t, on, err := h.cfg.Donations.Totals(c.Request.Context(), "en", cz)
		if err != nil {
			h.fail(c, err)
			return rendered{}, false
		}
		if on {
			j.Donations = &donationsJSON{Currency: t.Currency, TotalMinor: t.TotalMinor, Count: t.Count}
		}
	}
	raw, err := json.Marshal(j)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	return rendered{raw: raw, cause: cz.ID, keep: true}, true
}
