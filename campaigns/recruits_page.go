package campaigns

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// recruitsData is the private page that counts who signed through a
// signer's link.
type recruitsData struct {
	Cause    Cause
	Name     string
	Count    int64
	URL      string
	Code     string
	Recruits string
}

// Share is the signer's personal link.
func (d recruitsData) Share() shareURL { return shareURL(d.URL + "?ref=" + d.Code) }

// recruits answers the private page mailed to a signer once counted: how
// many people signed through their link, and the link again. Only the
// link's holder sees it: never stored by a cache, never indexed, never
// named to another site.
func (h *Handler) recruits(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("X-Robots-Tag", "noindex")
	r, err := h.store.FindRecruiter(c.Request.Context(), c.Param("token"))
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	cz, err := h.store.FindCauseByID(c.Request.Context(), r.CauseID)
	if err != nil {
		h.fail(c, err)
		return
	}
	if cz.Slug != c.Param("slug") {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	lang := templates.LangOf(c)
	d := recruitsData{Cause: cz, Name: notify.FirstName(r.Name), Count: r.Recruits, URL: h.causeURL(cz), Code: r.ShareCode,
		Recruits: h.recruitsLine(lang, r.Recruits, true)}
	h.rdr.HTML(c, http.StatusOK, "campaigns/recruits.html", &templates.Page{
		Title: h.rdr.Catalogue.T(lang, "RecruitsTitle"), NoIndex: true, Data: d})
}

// recruitsLine says how many people signed through a signer's link, in
// lang; for a signature just counted (again false), that they will be
// told.
func (h *Handler) recruitsLine(lang string, n int64, again bool) string {
	switch {
	case n > 0:
		return h.rdr.Catalogue.T(lang, "RecruitsCount", "Count", n)
	case again:
		return h.rdr.Catalogue.T(lang, "RecruitsNone")
	default:
		return h.rdr.Catalogue.T(lang, "RecruitsLater")
	}
}

// thanksMail is the mail a signer gets once their signature counts: their
// personal link to pass on, and the private link to the page that counts
// who signed through it. Queued by reference, as the signing mails are.
func (h *Handler) thanksMail(c *Confirmation, slug, title string) notify.Message {
	base := h.cfg.BaseURL
	fields := []mailField{{"Name", []string{notify.FirstName(c.Name)}}, {"CauseTitle", []string{title}},
		{"ShareURL", []string{ShareLink(base, slug, c.ShareCode)}},
		{"RecruitsURL", []string{base, "/c/", slug, "/recruits/", c.RecruitsToken, "?lang=", c.Lang}}}
	return notify.Message{To: c.Email, ToName: c.Name, Lang: c.Lang, Priority: notify.Transactional,
		Kind: "signature_thanks", Template: "signature_thanks", DataJSON: mailData(fields...)}
}
