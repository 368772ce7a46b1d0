package campaigns

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// OrganiserRoutes mounts the organiser's area. The caller puts the CSRF check
// and RequireOrganiser in front of it.
func (h *Handler) OrganiserRoutes(r gin.IRoutes) {
	r.GET("/dashboard", h.dashboard)
	r.GET("/campaigns/new", h.newCause)
	r.GET("/campaigns/new/image/:name", h.pendingImage)
	r.POST("/campaigns/new", h.createCause)
	r.GET("/campaigns/:slug", h.overview)
	r.GET("/campaigns/:slug/edit", h.editCause)
	r.POST("/campaigns/:slug/edit", h.updateCause)
	r.POST("/campaigns/:slug/status", h.setStatus)
	r.GET("/campaigns/:slug/signatures.csv", h.exportCSV)
	r.GET("/campaigns/:slug/updates", h.updatesPage)
	r.POST("/campaigns/:slug/updates", h.createUpdate)
	r.GET("/campaigns/:slug/updates/:id/edit", h.editUpdatePage)
	r.POST("/campaigns/:slug/updates/:id/edit", h.editUpdate)
	r.POST("/campaigns/:slug/updates/:id/delete", h.deleteUpdate)
	r.POST("/campaigns/:slug/victory", h.declareVictory)
	r.GET("/campaigns/:slug/comments", h.commentsReview)
	r.POST("/campaigns/:slug/comments/:id/hide", h.hideComment(true))
	r.POST("/campaigns/:slug/comments/:id/show", h.hideComment(false))
	r.GET("/account/organisation", h.profilePage)
	r.POST("/account/organisation", h.saveProfile)
}

type dashboardRow struct {
	Cause Cause
	Stats CauseStats
}

type dashboardData struct {
	Rows        []dashboardRow
	Confirmed   bool
	Admin       bool
	DonationsOn bool
}

func (h *Handler) dashboard(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	owner := o.ID
	if o.Admin {
		owner = 0
	}
	causes, err := h.store.ListByOrganiser(c.Request.Context(), owner)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := dashboardData{Confirmed: o.EmailConfirmed(), Admin: o.Admin, DonationsOn: h.cfg.Donations != nil && h.cfg.Donations.Enabled()}
	for _, cz := range causes {
		st, err := h.store.Stats(c.Request.Context(), cz.ID)
		if err != nil {
			h.fail(c, err)
			return
		}
		d.Rows = append(d.Rows, dashboardRow{Cause: cz, Stats: st})
	}
	c.Header("Cache-Control", "private, no-store")
	lang := templates.LangOf(c)
	h.rdr.HTML(c, http.StatusOK, "campaigns/dashboard.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "DashTitle"), NoIndex: true, Wide: true, Data: d})
}

// OwnsCause reports whether the signed-in organiser may manage the cause
// with the given slug: its organiser, or an admin.
func (h *Handler) OwnsCause(c *gin.Context, slug string) bool {
	o, ok := CurrentOrganiser(c)
	if !ok {
		return false
	}
	cz, err := h.store.FindCauseBySlug(c.Request.Context(), slug)
	return err == nil && (o.Admin || cz.OrganiserID == o.ID)
}

// ownCause loads the cause in the URL if the signed-in organiser may manage
// it; otherwise it answers 404, as if the cause did not exist.
func (h *Handler) ownCause(c *gin.Context) (Cause, Organiser, bool) {
	o, _ := CurrentOrganiser(c)
	cz, err := h.store.FindCauseBySlug(c.Request.Context(), c.Param("slug"))
	if errors.Is(err, ErrNotFound) || (err == nil && !o.Admin && cz.OrganiserID != o.ID) {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, o, false
	}
	if err != nil {
		h.fail(c, err)
		return Cause{}, o, false
	}
	return cz, o, true
}

var causeLimits = map[string]int{"title": MaxTitle, "summary": MaxSummary, "target": MaxTarget, "body": MaxBody}
