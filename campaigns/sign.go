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

func (h *Handler) sign(c *gin.Context) { h.signThrough(c, false) }

// signThrough signs the cause in the URL with the posted form, and answers
// in the cause page's layout or, for the embedded form, the embed's.
func (h *Handler) signThrough(c *gin.Context, embed bool) {
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
		if embed {
			h.embedPage(c, http.StatusConflict, cz, embedData{State: embedClosed})
			return
		}
		h.rdr.HTML(c, http.StatusConflict, "campaigns/closed.html", &templates.Page{Title: cz.Title, NoIndex: true, Data: cz})
		return
	}
	in := SignInput{Name: form.Name, Email: form.Email, Country: form.Country, Postcode: form.Postcode, Comment: form.Comment,
		Public: templates.Ticked(form.Public), Updates: templates.Ticked(form.Updates), Ref: form.Ref, Source: form.Source, Lang: lang}
	if errs := in.Validate(); errs.Any() {
		if embed {
			h.embedPage(c, http.StatusUnprocessableEntity, cz, embedData{State: embedForm, Form: form, Errors: errs})
			return
		}
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
		h.signedThrough(c, cz, notify.DisplayEmail(in.Email), embed)
		return
	}
	sg := h.newSigning(cz, in)
	sg.Network = holdNetwork(c.ClientIP())
	outcome, err := h.store.Sign(c.Request.Context(), sg)
	if err != nil {
		h.fail(c, err)
		return
	}
	signings.WithLabelValues(outcomeLabel(outcome)).Inc()
	h.signedThrough(c, cz, notify.DisplayEmail(in.Email), embed)
}

// signedThrough answers a signing with the "check your email" page of the
// cause page's layout or of the embed's.
func (h *Handler) signedThrough(c *gin.Context, cz Cause, email string, embed bool) {
	if embed {
		h.embedPage(c, http.StatusOK, cz, embedData{State: embedSigned, Email: email})
		return
	}
	h.signed(c, cz, email)
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
func (h *Handler) toCause(c *gin.Context) { h.backTo(c, "/c/"+c.Param("slug")) }

// toEmbed answers a GET of the embedded form's sign address (a reload of
// its answer, inside the frame) with the form again.
func (h *Handler) toEmbed(c *gin.Context) { h.backTo(c, "/c/"+c.Param("slug")+"/embed") }

// backTo sends a GET of a sign address back to the form at target, in the
// language asked for.
func (h *Handler) backTo(c *gin.Context, target string) {
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
	sg.NewMail = m.mail("signature_confirm", "signature_confirm", &sg.In, token, h.withdraw.make(tokenID))
	sg.AgainMail = func(counted int64) notify.Message {
		return m.mail("signature_again_confirmed", "signature_again", &sg.In, "", h.withdraw.make(counted))
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
// hundred bytes to the outbox rather than the whole mail. withdraw is the
// token of the link that withdraws the signature the mail is about.
func (m *signingMails) mail(name, kind string, in *SignInput, token, withdraw string) notify.Message {
	base := m.h.cfg.BaseURL
	fields := []mailField{{"Name", []string{notify.FirstName(in.Name)}}, {"CauseTitle", []string{m.title}},
		{"Target", []string{m.target}}, {"CauseURL", []string{base, "/c/", m.slug}},
		{"WithdrawURL", []string{base, "/withdraw/", withdraw, "?lang=", in.Lang}}, {}}
	if token != "" {
		// The signer's language rides in the link, so they confirm on a
		// page in the language they signed in, whatever their mail
		// program's browser prefers.
		fields[5] = mailField{"ConfirmURL", []string{base, "/confirm/", token, "?lang=", in.Lang}}
	} else {
		fields = fields[:5]
	}
	return notify.Message{To: in.Email, ToName: in.Name, Lang: in.Lang, Priority: notify.Transactional, Kind: kind,
		Template: name, DataJSON: mailData(fields...)}
}
