package notify

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// Organiser is the signed-in organiser, as blasts need them.
type Organiser struct {
	ID        int64
	Name      string
	Email     string
	Confirmed bool // they proved they own their address
	Admin     bool
}

// OrganiserRoutes mounts the blast pages in the organiser's area. The
// caller puts the login check (and the cross-origin check) in front; owns
// says whether the signed-in organiser may manage the cause with a slug
// (its organiser, or an admin), and current who they are. Anyone else
// gets 404 for a cause's blasts, as if there were none.
//
//	GET  /campaigns/{slug}/blasts              the cause's blasts
//	GET  /campaigns/{slug}/blasts/new          the compose form
//	POST /campaigns/{slug}/blasts              save a draft
//	GET  /campaigns/{slug}/blasts/{id}         preview, audience, progress, figures
//	GET  /campaigns/{slug}/blasts/{id}.json    the figures
//	GET  /campaigns/{slug}/blasts/{id}/edit    a draft's form; POST saves it
//	GET  /campaigns/{slug}/blasts/{id}/preview the HTML mail, for the page's frame
//	POST /campaigns/{slug}/blasts/{id}/send    now, or at send_at in tz
//	POST /campaigns/{slug}/blasts/{id}/test    to the organiser
//	POST …/pause, …/resume, …/cancel, …/retry
func (s *Blasts) OrganiserRoutes(r gin.IRoutes, owns func(*gin.Context, string) bool, current func(*gin.Context) (Organiser, bool)) {
	s.owns, s.current = owns, current
	r.GET("/campaigns/:slug/blasts", s.list)
	r.GET("/campaigns/:slug/blasts/new", s.newForm)
	r.POST("/campaigns/:slug/blasts", s.create)
	r.GET("/campaigns/:slug/blasts/:id", s.show)
	r.GET("/campaigns/:slug/blasts/:id/edit", s.editForm)
	r.POST("/campaigns/:slug/blasts/:id/edit", s.update)
	r.GET("/campaigns/:slug/blasts/:id/preview", s.preview)
	r.POST("/campaigns/:slug/blasts/:id/send", s.send)
	r.POST("/campaigns/:slug/blasts/:id/test", s.test)
	r.POST("/campaigns/:slug/blasts/:id/pause", s.action("FlashBlastPaused", s.pause))
	r.POST("/campaigns/:slug/blasts/:id/resume", s.action("FlashBlastResumed", s.resume))
	r.POST("/campaigns/:slug/blasts/:id/cancel", s.action("FlashBlastCancelled", s.cancel))
	r.POST("/campaigns/:slug/blasts/:id/retry", s.action("FlashBlastRetry", func(ctx context.Context, id int64) error {
		_, err := s.retryFailed(ctx, id)
		return err
	}))
}

// AdminRoutes mounts what only admins may do; the caller puts the admin
// check in front.
//
//	POST /admin/organisers/{id}/blast-cap  daily_cap, and slug to go back to
func (s *Blasts) AdminRoutes(r gin.IRoutes) {
	r.POST("/organisers/:id/blast-cap", s.setCap)
}

// PublicRoutes mounts the links in blast mails: tracked links and the
// open image (/t/{token}) and unsubscribing (/u/{token}).
func (s *Blasts) PublicRoutes(r gin.IRoutes) {
	r.GET("/t/:token", s.track)
	r.GET("/u/:token", s.unsubscribePage)
	r.POST("/u/:token", s.unsubscribe)
}

// ownCause loads the cause in the URL if the signed-in organiser may manage
// it; otherwise it answers 404.
func (s *Blasts) ownCause(c *gin.Context) (Cause, Organiser, bool) {
	o, ok := s.current(c)
	slug := c.Param("slug")
	if !ok || !s.owns(c, slug) {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, o, false
	}
	cz, err := s.aud.Cause(c.Request.Context(), slug)
	if err != nil {
		s.fail(c, err)
		return Cause{}, o, false
	}
	return cz, o, true
}

// ownBlast loads the cause and the blast in the URL, answering 404 unless
// the organiser may manage the cause and the blast is the cause's.
func (s *Blasts) ownBlast(c *gin.Context) (Cause, Blast, Organiser, bool) {
	cz, o, ok := s.ownCause(c)
	if !ok {
		return cz, Blast{}, o, false
	}
	id, err := strconv.ParseInt(strings.TrimSuffix(c.Param("id"), ".json"), 10, 64)
	if err != nil || id <= 0 {
		c.AbortWithStatus(http.StatusNotFound)
		return cz, Blast{}, o, false
	}
	b, err := findBlast(c.Request.Context(), s.r, id)
	if err == nil && b.CauseID != cz.ID {
		err = ErrNotFound
	}
	if err != nil {
		s.fail(c, err)
		return cz, b, o, false
	}
	return cz, b, o, true
}

// fail answers 404 for what does not exist, and reports anything else
// the one way every package does (templates.Fail).
func (s *Blasts) fail(c *gin.Context, err error) {
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	templates.Fail(c, err)
}

func (s *Blasts) page(c *gin.Context, status int, name, title string, data any) {
	c.Header("Cache-Control", "private, no-store")
	s.rdr.HTML(c, status, name, &templates.Page{Title: title, NoIndex: true, Wide: true, Data: data})
}

func (s *Blasts) t(c *gin.Context, id string, args ...any) string {
	return s.rdr.Catalogue.T(templates.LangOf(c), id, args...)
}

// blastPath is the address of a blast's page.
func blastPath(cz Cause, id int64) string { return BlastPath(cz.Slug, id) }

// BlastPath is the address of the page of the blast with id, of the cause
// with slug, in the organiser's area.
func BlastPath(slug string, id int64) string {
	return "/campaigns/" + slug + "/blasts/" + strconv.FormatInt(id, 10)
}
