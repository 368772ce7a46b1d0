package campaigns

import (
	"errors"
	"html"
	"html/template"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// confirmData is the confirm button page and the thank-you page.
type confirmData struct {
	Token  string
	Cause  Cause
	Count  int64
	Goal   int64
	URL    string
	Again  bool
	Donate template.HTML // the donate form, rendered (see thanks)
	Name   string
	// Code is the signer's share code, for their personal link.
	Code string
	// Recruits says how many people signed through their link, or how
	// they will learn it: a sentence.
	Recruits string
}

// Share is the signer's personal link.
func (d confirmData) Share() shareURL { return shareURL(d.URL + "?ref=" + d.Code) }

func validToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// confirmToken reads the confirmation token in the URL, answering with
// the bad link page for text that cannot be one.
func (h *Handler) confirmToken(c *gin.Context) (string, bool) {
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	token := c.Param("token")
	if _, ok := parseSignatureToken(token); !ok {
		h.badLink(c)
		return "", false
	}
	return token, true
}

// badLink answers a confirmation link that matches no signature, most
// often one cut short by a mail program that wrapped it: a 404 that says
// what to check and how to get a new link, where the site's page not found
// would leave the signer guessing.
func (h *Handler) badLink(c *gin.Context) {
	lang := templates.LangOf(c)
	h.rdr.HTML(c, http.StatusNotFound, "campaigns/badlink.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "AccountConfirmUnknownHeading"), NoIndex: true})
	c.Abort()
}

// confirmPage shows the button that confirms, and which cause it is for.
// It changes nothing: mail scanners open links.
func (h *Handler) confirmPage(c *gin.Context) {
	token, ok := h.confirmToken(c)
	if !ok {
		return
	}
	cz, state, err := h.store.FindLink(c.Request.Context(), token)
	if errors.Is(err, ErrNotFound) {
		h.badLink(c)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	switch state {
	case LinkExpired:
		h.expired(c, cz)
		return
	case LinkUsed:
		h.rdr.HTML(c, http.StatusOK, "campaigns/link_used.html", &templates.Page{
			Title: h.rdr.Catalogue.T(templates.LangOf(c), "ThanksAgainTitle"), NoIndex: true, Data: linkData{Cause: cz, Token: token}})
		return
	}
	page := &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "ConfirmTitle"), NoIndex: true}
	h.rdr.FillPage(c, page)
	if !stampable(page, token) {
		page.Data = confirmData{Token: token, Cause: cz}
		h.rdr.HTML(c, http.StatusOK, "campaigns/confirm.html", page)
		return
	}
	h.stampedConfirmPage(c, page, cz, token)
}

// linkData is the page of a confirmation link that confirms no more: the
// cause it was for, to go back to.
type linkData struct {
	Cause Cause
	Open  bool
	// Token is the used link's, whose thank-you page (the signer's
	// personal link, who came through it) is a button away.
	Token string
}

// expired answers a confirmation link past its expiry: 410, and the way
// back to the cause to sign again.
func (h *Handler) expired(c *gin.Context, cz Cause) {
	h.rdr.HTML(c, http.StatusGone, "campaigns/expired.html", &templates.Page{
		Title: h.rdr.Catalogue.T(templates.LangOf(c), "ExpiredTitle"), NoIndex: true,
		Data: linkData{Cause: cz, Open: cz.Open(h.store.now())}})
}

// stampable reports whether a page of a confirmation link can come from
// h.stamps, rendered once per cause and language with the token put in:
// not when someone is signed in (the page names them), a notice waits to
// be shown, or the address has a query.
func stampable(page *templates.Page, token string) bool {
	return page.Viewer == nil && page.Flash == "" && page.Path == "/confirm/"+token
}

// stampedConfirmPage writes the confirm button page from h.stamps.
func (h *Handler) stampedConfirmPage(c *gin.Context, page *templates.Page, cz Cause, token string) {
	key := stampKey{page: "confirm", cause: cz.ID, update: cz.UpdatedAt.UnixNano(), lang: page.Lang}
	st, err := h.stamps.get(key, [2]int64{}, func() (stamped, error) {
		return h.renderStamped("campaigns/confirm.html", page, func(i int) {
			page.Path, page.Data = "/confirm/"+phToken[i], confirmData{Token: phToken[i], Cause: cz}
		}, phToken)
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	// The token is letters, digits, - and _ (confirmToken checked it).
	st.write(c, token)
}

func (h *Handler) confirm(c *gin.Context) {
	token, ok := h.confirmToken(c)
	if !ok {
		return
	}
	res, err := h.store.confirm(c.Request.Context(), token, h.thanksMail)
	switch {
	case errors.Is(err, ErrNotFound):
		h.badLink(c)
		return
	case errors.Is(err, ErrExpired):
		cz, _, err := h.store.FindLink(c.Request.Context(), token)
		if err != nil {
			h.fail(c, err)
			return
		}
		h.expired(c, cz)
		return
	case err != nil:
		h.fail(c, err)
		return
	}
	if !res.AlreadyConfirmed {
		confirmations.Inc()
	}
	cz, err := h.store.FindCauseByID(c.Request.Context(), res.CauseID)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.thanks(c, token, cz, res)
}

// thanks answers with the thank-you page, from h.stamps when it can be.
func (h *Handler) thanks(c *gin.Context, token string, cz Cause, res Confirmation) {
	page, d, err := h.thanksData(c, cz, res)
	if err != nil {
		h.fail(c, err)
		return
	}
	if !stampable(page, token) {
		page.Data = d
		h.rdr.HTML(c, http.StatusOK, "campaigns/thanks.html", page)
		return
	}
	h.stampedThanks(c, page, d, token)
}

// thanksData is the thank-you page for the request, its donate form
// rendered.
func (h *Handler) thanksData(c *gin.Context, cz Cause, res Confirmation) (*templates.Page, confirmData, error) {
	page := &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "ThanksPageTitle"), NoIndex: true}
	h.rdr.FillPage(c, page)
	d := confirmData{Cause: cz, Count: cz.SignatureCount, Goal: NextGoal(cz.SignatureCount, cz.Goal), URL: h.causeURL(cz),
		Again: res.AlreadyConfirmed, Name: notify.FirstName(res.Name), Code: res.ShareCode}
	// Nobody can have signed through a link shown for the first time.
	var recruits int64
	if res.AlreadyConfirmed {
		n, err := h.store.Recruits(c.Request.Context(), cz.ID, res.ShareCode)
		if err != nil {
			return nil, d, err
		}
		recruits = n
	}
	d.Recruits = h.recruitsLine(page.Lang, recruits, res.AlreadyConfirmed)
	if h.cfg.Donations != nil {
		var b strings.Builder
		form := h.cfg.Donations.Form(c.Request.Context(), page.Lang, cz, res.Email)
		if err := h.rdr.RenderPart(&b, "campaigns/thanks.html", "donate-form", form); err != nil {
			return nil, d, err
		}
		d.Donate = template.HTML(b.String())
	}
	return page, d, nil
}

// stampedThanks writes the thank-you page from h.stamps: rendered for the
// count it shows, with placeholders for the person's first name, token,
// share code, recruits and donate form. The confirmations of one batch see the same count, so under
// load the page is rendered about once a batch rather than once a
// confirmation (html/template for the whole page was half of a
// confirmation's cost).
func (h *Handler) stampedThanks(c *gin.Context, page *templates.Page, d confirmData, token string) {
	key := stampKey{page: "thanks", cause: d.Cause.ID, update: d.Cause.UpdatedAt.UnixNano(), lang: page.Lang,
		again: d.Again, named: d.Name != ""}
	st, err := h.stamps.get(key, [2]int64{d.Count, d.Goal}, func() (stamped, error) {
		return h.renderStamped("campaigns/thanks.html", page, func(i int) {
			ph := d
			if ph.Name != "" {
				ph.Name = phName[i]
			}
			if ph.Donate != "" {
				ph.Donate = template.HTML(phDonate[i])
			}
			ph.Code, ph.Recruits = phCode[i], phRecruits[i]
			page.Path, page.Data = "/confirm/"+phToken[i], ph
		}, phName, phToken, phDonate, phCode, phRecruits)
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	// The token is letters, digits, - and _ (confirmToken checked it), and
	// a share code letters and digits.
	st.write(c, html.EscapeString(d.Name), token, string(d.Donate), d.Code, html.EscapeString(d.Recruits))
}
