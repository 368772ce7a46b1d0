package campaigns

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// privacyData is the privacy page: the site's address and the data
// controller's contact, if set.
type privacyData struct {
	Site    string
	Contact string
}

func (h *Handler) privacy(c *gin.Context) {
	// An admin's page carries a note the public's does not: publicCache
	// keeps no shared copy of a signed-in organiser's page.
	publicCache(c)
	site := h.cfg.BaseURL
	if u, err := url.Parse(h.cfg.BaseURL); err == nil && u.Host != "" {
		site = u.Host
	}
	h.rdr.HTML(c, http.StatusOK, "campaigns/privacy.html", &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "PrivacyTitle"),
		Data: privacyData{Site: site, Contact: h.cfg.ContactEmail}})
}
