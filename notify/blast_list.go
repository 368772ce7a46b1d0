package notify

// The cause's blasts: GET /campaigns/{slug}/blasts, and the daily cap an
// admin sets there.

import (
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// blastRow is a blast with its figures, for the list.
type blastRow struct {
	Blast
	Counts BlastCounts
}

type blastsPageData struct {
	Cause      Cause
	Rows       []blastRow
	DNS        SenderDNS
	FromDomain string
	Cap        int64
	Used       int64
	CanCompose bool
	Admin      bool
	CapError   string
	CapValue   string
}

func (s *Blasts) list(c *gin.Context) {
	cz, o, ok := s.ownCause(c)
	if !ok {
		return
	}
	s.renderList(c, http.StatusOK, cz, o, "", "")
}

func (s *Blasts) renderList(c *gin.Context, status int, cz Cause, o Organiser, capValue, capError string) {
	ctx := c.Request.Context()
	blasts, err := s.listBlasts(ctx, cz.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	d := blastsPageData{Cause: cz, CanCompose: o.Confirmed || o.Admin, Admin: o.Admin, CapError: capError, CapValue: capValue}
	for _, b := range blasts {
		counts, err := s.counts(ctx, b.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		d.Rows = append(d.Rows, blastRow{Blast: b, Counts: counts})
	}
	if d.Cap, err = s.dailyCap(ctx, cz.OrganiserID); err != nil {
		s.fail(c, err)
		return
	}
	if d.Used, err = s.usedToday(ctx, cz.OrganiserID); err != nil {
		s.fail(c, err)
		return
	}
	if d.CapValue == "" {
		d.CapValue = strconv.FormatInt(d.Cap, 10)
	}
	d.FromDomain = domainOf(s.cfg.MailFrom)
	d.DNS = s.dns.status(d.FromDomain, s.cfg.DKIMDomain, s.cfg.DKIMSelector)
	s.page(c, status, "notify/blasts.html", s.t(c, "BlastsTitle")+" · "+cz.Title, d)
}

// domainOf returns the domain of an address such as "Rally <rally@example.org>".
func domainOf(from string) string {
	if from == "" {
		from = DefaultFrom
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return ""
	}
	return strings.ToLower(a.Address[strings.LastIndexByte(a.Address, '@')+1:])
}

// maxDailyCap bounds what an admin may set.
const maxDailyCap = 10_000_000

func (s *Blasts) setCap(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	slug := c.PostForm("slug")
	typed := strings.TrimSpace(strings.ReplaceAll(c.PostForm("daily_cap"), " ", ""))
	typed = strings.ReplaceAll(strings.ReplaceAll(typed, ",", ""), "\u202f", "")
	limit, perr := strconv.ParseInt(typed, 10, 64)
	var cz Cause
	var o Organiser
	if slug != "" {
		o, _ = s.current(c)
		if cz, err = s.aud.Cause(c.Request.Context(), slug); err != nil || cz.OrganiserID != id {
			slug = ""
		}
	}
	if perr != nil || limit < 0 || limit > maxDailyCap {
		if slug == "" {
			c.AbortWithStatus(http.StatusUnprocessableEntity)
			return
		}
		s.renderList(c, http.StatusUnprocessableEntity, cz, o, c.PostForm("daily_cap"), s.t(c, "BlastErrCap", "Max", s.rdr.Catalogue.Number(templates.LangOf(c), maxDailyCap)))
		return
	}
	if err := s.setDailyCap(c.Request.Context(), id, limit); err != nil {
		s.fail(c, err)
		return
	}
	if slug == "" {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cz.Slug+"/blasts")
}
