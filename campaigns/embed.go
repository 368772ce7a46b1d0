package campaigns

import (
	"html/template"
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// The states of the embedded sign form's page.
const (
	embedForm   = "form"   // the form, or the form back with its errors
	embedClosed = "closed" // the cause takes no more signatures
	embedSigned = "signed" // "check your email"
)

// embedData is the embedded sign form's page, in one of its states.
type embedData struct {
	State     string
	Cause     Cause
	URL       string
	Count     int64
	Goal      int64
	Form      signForm
	Errors    FormErrors
	Countries template.HTML
	// Email is where the confirmation link went (embedSigned).
	Email string
}

// frameAncestors finds the frame-ancestors directive of a
// Content-Security-Policy.
var frameAncestors = regexp.MustCompile(`frame-ancestors[^;]*`)

// allowFraming lets any site show the response in a frame: the embedded
// sign form's pages, and only them. Every other page keeps the headers
// that refuse it (cmd/rally's securityHeaders): the rest of the policy
// stays as it was set.
func allowFraming(c *gin.Context) {
	h := c.Writer.Header()
	h.Del("X-Frame-Options")
	csp := h.Get("Content-Security-Policy")
	switch {
	case frameAncestors.MatchString(csp):
		csp = frameAncestors.ReplaceAllString(csp, "frame-ancestors *")
	case csp != "":
		csp += "; frame-ancestors *"
	default:
		csp = "frame-ancestors *"
	}
	h.Set("Content-Security-Policy", csp)
}

// embed answers the cause's sign form for an iframe on another site: no
// cookie needed, its answers in the same small layout (see embedSign).
// Everyone not signed in gets it from the page cache.
func (h *Handler) embed(c *gin.Context) {
	slug := c.Param("slug")
	lang := templates.LangOf(c)
	country := DefaultCountry(lang, c.GetHeader("Accept-Language"))
	allowFraming(c)
	publicCache(c)
	if h.personal(c) {
		// An organiser previewing a draft's form.
		cz, _, ok := h.findVisible(c, slug)
		if !ok {
			return
		}
		raw, err := h.renderEmbed(c, cz, embedData{State: embedForm, Form: signForm{Country: country}})
		if err != nil {
			h.fail(c, err)
			return
		}
		writeBody(c, "text/html; charset=utf-8", newBody(raw))
		return
	}
	h.servePage(c, slug, variant{lang: "embed-" + lang, country: country}, "text/html; charset=utf-8", "", "", func() (rendered, bool) {
		cz, _, ok := h.findVisible(c, slug)
		if !ok {
			return rendered{}, false
		}
		d := embedData{State: embedForm, Form: signForm{Country: country}}
		if !cz.Open(h.store.now()) {
			d.State = embedClosed
		}
		raw, err := h.renderEmbed(c, cz, d)
		if err != nil {
			h.fail(c, err)
			return rendered{}, false
		}
		return rendered{raw: raw, cause: cz.ID, keep: cz.Public()}, true
	})
}

// embedSign signs through the embedded form: as the cause page's form
// does, answering in the embed's layout.
func (h *Handler) embedSign(c *gin.Context) { h.signThrough(c, true) }

// embedPage answers with the embed's page in state d, for the request
// alone.
func (h *Handler) embedPage(c *gin.Context, status int, cz Cause, d embedData) {
	raw, err := h.renderEmbed(c, cz, d)
	if err != nil {
		h.fail(c, err)
		return
	}
	allowFraming(c)
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", raw)
}

// renderEmbed renders the embed's page of the cause in state d.
func (h *Handler) renderEmbed(c *gin.Context, cz Cause, d embedData) ([]byte, error) {
	lang := templates.LangOf(c)
	d.Cause, d.URL = cz, h.causeURL(cz)
	d.Count, d.Goal = cz.SignatureCount, NextGoal(cz.SignatureCount, cz.Goal)
	if d.State == embedForm {
		d.Form.Source = SourceEmbed
		d.Countries = CountryOptions(lang, d.Form.Country)
	}
	title := cz.Title
	switch d.State {
	case embedSigned:
		title = h.rdr.Catalogue.T(lang, "SignedTitle")
	case embedClosed:
		title = h.rdr.Catalogue.T(lang, "CauseClosed")
	}
	page := &templates.Page{Title: title, NoIndex: true, Data: d}
	h.rdr.FillPage(c, page)
	return h.renderPage("campaigns/embed.html", page)
}
