package campaigns

import (
	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

type homeData struct {
	Causes []causeCard
}

type causeCard struct {
	Cause    Cause
	ImageURL string
	Count    int64
	Goal     int64
}

// homeKey is the home page's name in the page cache: no slug has a slash.
const homeKey = "/"

// homeCached reports whether the home page for the request is the one
// kept in the page cache: for anyone not signed in, whatever the query
// (?lang= chose the language already). This is where search (?q=) and
// paging (?page=) will come in: a query they change the page for must
// either be rendered here uncached or join the page's variant key.
func homeCached(c *gin.Context) bool { return true }

func (h *Handler) home(c *gin.Context) {
	lang := templates.LangOf(c)
	publicCache(c)
	if h.personal(c) || !homeCached(c) {
		if r, ok := h.renderHome(c, false); ok {
			writeBody(c, "text/html; charset=utf-8", newBody(r.raw))
		}
		return
	}
	h.servePage(c, homeKey, variant{lang: lang}, "text/html; charset=utf-8", "", func() (rendered, bool) {
		return h.renderHome(c, true)
	})
}

// renderHome renders the home page; shared, for the page cache, it is the
// page of the plain address.
func (h *Handler) renderHome(c *gin.Context, shared bool) (rendered, bool) {
	lang := templates.LangOf(c)
	causes, err := h.store.ListPublished(c.Request.Context(), 60)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	cards := make([]causeCard, len(causes))
	for i, cz := range causes {
		cards[i] = causeCard{Cause: cz, ImageURL: h.imageURL(cz), Count: cz.SignatureCount, Goal: NextGoal(cz.SignatureCount, cz.Goal)}
	}
	page := &templates.Page{Title: h.rdr.Catalogue.T(lang, "HomeTitle"), Description: h.rdr.Catalogue.T(lang, "HomeLead"),
		Data: homeData{Causes: cards}}
	h.rdr.FillPage(c, page)
	if shared {
		page.Path = "/"
	}
	raw, err := h.renderPage("campaigns/home.html", page)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	return rendered{raw: raw, keep: true}, true
}
