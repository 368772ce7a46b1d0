package campaigns

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// privacyData is the privacy page: the site's address, the data
// controller's contact, if set, how long signers are kept, and the form
// that asks for a copy of one's data or for its deletion.
type privacyData struct {
	Site          string
	Contact       string
	RetentionDays int
	Form          privacyForm
	Errors        FormErrors
}

// privacyForm is the request form as typed.
type privacyForm struct {
	Email string `form:"email"`
	Kind  string `form:"kind"`
}

func (h *Handler) privacy(c *gin.Context) {
	// An admin's page carries a note the public's does not: publicCache
	// keeps no shared copy of a signed-in organiser's page.
	publicCache(c)
	h.renderPrivacy(c, http.StatusOK, privacyForm{Kind: RequestExport}, nil)
}

func (h *Handler) renderPrivacy(c *gin.Context, status int, f privacyForm, errs FormErrors) {
	site := h.cfg.BaseURL
	if u, err := url.Parse(h.cfg.BaseURL); err == nil && u.Host != "" {
		site = u.Host
	}
	h.rdr.HTML(c, status, "campaigns/privacy.html", &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "PrivacyTitle"),
		Data: privacyData{Site: site, Contact: h.cfg.ContactEmail, RetentionDays: h.cfg.RetentionDays, Form: f, Errors: errs}})
}

// requestPrivacy mails a one-use link that carries out a request for a
// copy of one's data or for its deletion. The page is the same whoever
// the address is, and whether or not a mail went (see privacyMailsPerDay),
// so nobody learns from it what the site holds on anyone.
func (h *Handler) requestPrivacy(c *gin.Context) {
	var f privacyForm
	if !bindAccountForm(c, &f) {
		return
	}
	errs := FormErrors{}
	email, err := notify.NormalizeEmail(f.Email)
	if err != nil {
		errs["email"] = Problem{ID: "SignErrEmail"}
	}
	if f.Kind != RequestExport && f.Kind != RequestDelete {
		errs["kind"] = Problem{ID: "PrivacyErrKind"}
	}
	c.Header("Cache-Control", "private, no-store")
	if errs.Any() {
		f.Email = keepTyped(f.Email)
		h.renderPrivacy(c, http.StatusUnprocessableEntity, f, errs)
		return
	}
	lang := templates.LangOf(c)
	token, _ := NewToken()
	m, err := h.rdr.Mail(lang, "privacy_link", map[string]string{"Kind": f.Kind, "URL": h.cfg.BaseURL + "/privacy/" + token + "?lang=" + lang})
	if err != nil {
		h.fail(c, err)
		return
	}
	mail := notify.Message{To: email, Lang: lang, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		Priority: notify.Transactional, Kind: "privacy_" + f.Kind}
	if _, err := h.store.RequestPrivacy(c.Request.Context(), email, f.Kind, lang, token, mail); err != nil {
		h.fail(c, err)
		return
	}
	h.rdr.HTML(c, http.StatusOK, "campaigns/privacy_sent.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "PrivacySentTitle"),
		NoIndex: true, Data: struct{ Email string }{notify.DisplayEmail(email)}})
}

// privacyLinkData is the page a privacy link opens.
type privacyLinkData struct {
	Token     string
	Email     string
	Kind      string
	Organiser bool
	Problem   string // "expired", "used" or "unknown"
}

// privacyRequest reads the link's request, answering with a page that
// says what is wrong with the link when it cannot be used.
func (h *Handler) privacyRequest(c *gin.Context) (string, PrivacyRequest, bool) {
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	token := c.Param("token")
	req, err := PrivacyRequest{}, error(nil)
	if validToken(token) {
		req, err = h.store.FindPrivacyRequest(c.Request.Context(), token)
	} else {
		err = ErrNotFound
	}
	switch {
	case errors.Is(err, ErrExpired):
		h.privacyLinkProblem(c, http.StatusGone, "expired")
	case errors.Is(err, ErrNotFound):
		h.privacyLinkProblem(c, http.StatusNotFound, "unknown")
	case err != nil:
		h.fail(c, err)
	case req.UsedAt != nil:
		h.privacyLinkProblem(c, http.StatusGone, "used")
	default:
		return token, req, true
	}
	return "", req, false
}

func (h *Handler) privacyLinkProblem(c *gin.Context, status int, problem string) {
	h.rdr.HTML(c, status, "campaigns/privacy_link.html", &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "PrivacyLinkBadTitle"),
		NoIndex: true, Data: privacyLinkData{Problem: problem}})
	c.Abort()
}

// privacyLink says what the link will do, with a button that does it:
// mail scanners open links, and a GET changes nothing.
func (h *Handler) privacyLink(c *gin.Context) {
	token, req, ok := h.privacyRequest(c)
	if !ok {
		return
	}
	title := "PrivacyExportTitle"
	if req.Kind == RequestDelete {
		title = "PrivacyDeleteTitle"
	}
	h.rdr.HTML(c, http.StatusOK, "campaigns/privacy_link.html", &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), title),
		NoIndex: true, Data: privacyLinkData{Token: token, Email: notify.DisplayEmail(req.Email), Kind: req.Kind}})
}

// usePrivacyLink carries out the request: a copy of the person's data as a
// JSON download, or its deletion.
func (h *Handler) usePrivacyLink(c *gin.Context) {
	token, req, ok := h.privacyRequest(c)
	if !ok {
		return
	}
	lang := templates.LangOf(c)
	if req.Kind == RequestExport {
		data, err := h.store.Export(c.Request.Context(), token, h.cfg.PersonalData)
		if h.privacyFailed(c, err) {
			return
		}
		body, err := json.MarshalIndent(data, "", "  ")
		if err != nil {
			h.fail(c, err)
			return
		}
		c.Header("Content-Disposition", `attachment; filename="`+exportFileName(h.store.now().Format("2006-01-02"))+`"`)
		c.Data(http.StatusOK, "application/json; charset=utf-8", body)
		return
	}
	organiser, err := h.store.Forget(c.Request.Context(), token, h.cfg.PersonalData)
	if h.privacyFailed(c, err) {
		return
	}
	h.rdr.HTML(c, http.StatusOK, "campaigns/privacy_link.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "PrivacyDeletedTitle"),
		NoIndex: true, Data: privacyLinkData{Kind: "deleted", Organiser: organiser}})
}

// privacyFailed answers a request that could not be carried out, and
// reports whether there was one.
func (h *Handler) privacyFailed(c *gin.Context, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrUsed):
		h.privacyLinkProblem(c, http.StatusGone, "used")
	case errors.Is(err, ErrExpired):
		h.privacyLinkProblem(c, http.StatusGone, "expired")
	case errors.Is(err, ErrNotFound):
		h.privacyLinkProblem(c, http.StatusNotFound, "unknown")
	default:
		h.fail(c, err)
	}
	return true
}

// exportFileName names the download of a person's data.
func exportFileName(day string) string {
	return "rally-my-data-" + strings.ReplaceAll(day, "/", "-") + ".json"
}
