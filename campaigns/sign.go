package campaigns

import (
	"errors"
	"html"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// signedData is the "check your email" page.
type signedData struct {
	Cause Cause
	Email string
}

func (h *Handler) sign(c *gin.Context) {
	slug := c.Param("slug")
	form, err := readSignForm(c.Request)
	if err != nil {
		h.badForm(c, err)
		return
	}
	cz, err := h.causes.get(c.Request.Context(), h.store, slug)
	if errors.Is(err, ErrNotFound) || (err == nil && !cz.Public()) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	lang := templates.LangOf(c)
	if !cz.Open(h.store.now()) {
		h.rdr.HTML(c, http.StatusConflict, "campaigns/closed.html", &templates.Page{Title: cz.Title, NoIndex: true, Data: cz})
		return
	}
	in := SignInput{Name: form.Name, Email: form.Email, Country: form.Country, Postcode: form.Postcode, Comment: form.Comment,
		Public: templates.Ticked(form.Public), Updates: templates.Ticked(form.Updates), Ref: form.Ref, Lang: lang}
	if errs := in.Validate(); errs.Any() {
		data, err := h.causeData(c, cz, false, form, errs)
		if err != nil {
			h.fail(c, err)
			return
		}
		page := h.causePage(c, cz, data)
		page.NoIndex = true
		h.rdr.HTML(c, http.StatusUnprocessableEntity, "campaigns/cause.html", page)
		return
	}
	c.Header("Cache-Control", "no-store")
	// A filled honeypot is a bot: it sees success and nothing is kept.
	if form.Website != "" {
		signings.WithLabelValues("honeypot").Inc()
		h.signed(c, cz, notify.DisplayEmail(in.Email))
		return
	}
	outcome, err := h.store.Sign(c.Request.Context(), h.newSigning(cz, in))
	if err != nil {
		h.fail(c, err)
		return
	}
	signings.WithLabelValues(outcomeLabel(outcome)).Inc()
	h.signed(c, cz, notify.DisplayEmail(in.Email))
}

// signed answers with the "check your email" page, naming the address as
// its owner would write it (see notify.DisplayEmail). It is the same page whatever
// the signing did (see Store.Sign).
func (h *Handler) signed(c *gin.Context, cz Cause, email string) {
	// A title of its own, so a tab or a screen reader tells it from the
	// cause page it came from.
	page := &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "SignedTitle"), NoIndex: true}
	h.rdr.FillPage(c, page)
	if page.Viewer != nil || page.Flash != "" {
		page.Data = signedData{Cause: cz, Email: email}
		h.rdr.HTML(c, http.StatusOK, "campaigns/signed.html", page)
		return
	}
	st, err := h.signedPage(page, cz)
	if err != nil {
		h.fail(c, err)
		return
	}
	st.write(c, html.EscapeString(email))
}

// toCause sends a GET of the signing address (a reload, a language switch on
// the "check your email" page) to the cause page.
func (h *Handler) toCause(c *gin.Context) {
	target := "/c/" + c.Param("slug")
	if l := c.Query("lang"); l != "" {
		target += "?lang=" + url.QueryEscape(l)
	}
	c.Redirect(http.StatusSeeOther, target)
}

func outcomeLabel(o SignOutcome) string {
	switch o {
	case SignedNew:
		return "new"
	default:
		return "again_confirmed"
	}
}

func (h *Handler) newSigning(cz Cause, in SignInput) *Signing {
	token, tokenID, hash := NewSignatureToken()
	sg := &Signing{CauseID: cz.ID, In: in, Token: token, TokenID: tokenID, TokenHash: hash}
	// What the mails need of the cause, rather than all of it.
	m := &signingMails{h: h, title: cz.Title, target: cz.Target, slug: cz.Slug}
	sg.NewMail = m.mail("signature_confirm", "signature_confirm", &sg.In, token)
	sg.AgainMail = func() notify.Message {
		return m.mail("signature_again_confirmed", "signature_again", &sg.In, "")
	}
	return sg
}

// signingMails makes the mails of one cause's signings.
type signingMails struct {
	h                   *Handler
	title, target, slug string
}

// mail returns the named signing mail for one signer, queued by reference:
// the mail worker renders it when it sends it, so a signing writes a few
// hundred bytes to the outbox rather than the whole mail.
func (m *signingMails) mail(name, kind string, in *SignInput, token string) notify.Message {
	base := m.h.cfg.BaseURL
	fields := []mailField{{"Name", []string{notify.FirstName(in.Name)}}, {"CauseTitle", []string{m.title}},
		{"Target", []string{m.target}}, {"CauseURL", []string{base, "/c/", m.slug}}, {}}
	if token != "" {
		// The signer's language rides in the link, so they confirm on a
		// page in the language they signed in, whatever their mail
		// program's browser prefers.
		fields[4] = mailField{"ConfirmURL", []string{base, "/confirm/", token, "?lang=", in.Lang}}
	} else {
		fields = fields[:4]
	}
	return notify.Message{To: in.Email, ToName: in.Name, Lang: in.Lang, Priority: notify.Transactional, Kind: kind,
		Template: name, DataJSON: mailData(fields...)}
}
