package campaigns

import (
	"context"
	"errors"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// DonationTotals is what a cause has raised, for its page and JSON.
type DonationTotals struct {
	Currency   string
	TotalMinor int64
	Count      int64
}

// Donations is what the cause pages need from the donations feature. It is
// nil, or reports enabled=false, when Stripe is not configured.
type Donations interface {
	// Enabled reports whether Stripe is configured.
	Enabled() bool
	// Form returns the data of the "donate-form" partial, with what the
	// cause has raised, or nil when donations are off.
	Form(ctx context.Context, lang string, c Cause, email string) any
	// Totals returns what the cause has raised; enabled is false when off.
	Totals(ctx context.Context, lang string, c Cause) (t DonationTotals, enabled bool, err error)
}

// HandlerConfig configures the campaigns handlers.
type HandlerConfig struct {
	BaseURL   string
	UploadDir string
	Donations Donations
}

// Handler serves the public cause pages, signing and confirming, and the
// organiser's dashboard.
type Handler struct {
	store   *Store
	rdr     *templates.Renderer
	cfg     HandlerConfig
	pages   *pageCache
	causes  *causeCache
	stamps  *stamps
	bodies  *bodyCache
	uploads *uploadLimit // images per organiser a day
}

// NewHandler returns the campaigns handlers. Their caches hear of every
// change to a cause from the store (see Store.OnChange).
func NewHandler(store *Store, rdr *templates.Renderer, cfg HandlerConfig) *Handler {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	h := &Handler{store: store, rdr: rdr, cfg: cfg, pages: newPageCache(), causes: newCauseCache(), stamps: newStamps(),
		bodies: newBodyCache(), uploads: newUploadLimit()}
	store.OnChange(h.causeChanged)
	return h
}

// PublicRoutes mounts the pages anyone may see and the signing routes.
func (h *Handler) PublicRoutes(r gin.IRoutes) {
	r.GET("/", h.home)
	r.GET("/c/:slug", h.cause)
	r.HEAD("/c/:slug", h.cause)
	r.POST("/c/:slug/sign", h.sign)
	r.GET("/c/:slug/sign", h.toCause)
	r.GET("/confirm/:token", h.confirmPage)
	r.POST("/confirm/:token", h.confirm)
	r.GET("/uploads/:name", h.upload)
	r.GET("/privacy", h.privacy)
}

func (h *Handler) privacy(c *gin.Context) {
	publicCache(c)
	h.rdr.HTML(c, http.StatusOK, "campaigns/privacy.html", &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "PrivacyTitle")})
}

// publicCache lets browsers revalidate at once but lets a CDN in front serve
// a page for a few seconds, and stale while it refetches, to absorb a spike.
func publicCache(c *gin.Context) {
	if _, signedIn := CurrentOrganiser(c); signedIn {
		c.Header("Cache-Control", "private, no-store")
		return
	}
	c.Header("Cache-Control", "public, max-age=0, s-maxage=5, stale-while-revalidate=30")
	c.Header("Vary", "Accept-Language, Cookie")
}

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
	if h.signedIn(c) || !homeCached(c) {
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

func (h *Handler) imageURL(c Cause) string {
	if c.Image == "" {
		return ""
	}
	return "/uploads/" + c.Image
}

// signForm is the sign form as typed, for re-rendering.
type signForm struct {
	Name     string
	Email    string
	Country  string
	Postcode string
	Comment  string
	Public   string
	Updates  string
	Ref      string
	Website  string
}

type causeData struct {
	Cause     Cause
	BodyHTML  template.HTML
	ImageURL  string
	URL       string
	Count     int64
	Goal      int64
	Open      bool
	Owner     bool
	Signers   []signerView
	Form      signForm
	Errors    FormErrors
	Countries template.HTML
	Donate    any
}

type signerView struct {
	PublicSigner
	CountryName string
}

// findVisible loads a cause the current visitor may see: published ones for
// everyone, drafts for their organiser and admins.
func (h *Handler) findVisible(c *gin.Context, slug string) (Cause, bool, bool) {
	cz, err := h.store.FindCauseBySlug(c.Request.Context(), slug)
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, false, false
	}
	if err != nil {
		h.fail(c, err)
		return Cause{}, false, false
	}
	owner := false
	if o, ok := CurrentOrganiser(c); ok && (o.Admin || o.ID == cz.OrganiserID) {
		owner = true
	}
	if !cz.Public() && !owner {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, false, false
	}
	return cz, owner, true
}

func (h *Handler) cause(c *gin.Context) {
	slug := c.Param("slug")
	if s, ok := strings.CutSuffix(slug, ".json"); ok {
		h.causeJSON(c, s)
		return
	}
	lang := templates.LangOf(c)
	country := DefaultCountry(lang, c.GetHeader("Accept-Language"))
	publicCache(c)
	if h.signedIn(c) {
		// The header names who is signed in, and an organiser sees their
		// drafts: rendered for them alone.
		h.causeFor(c, slug, country)
		return
	}
	// Everyone else gets the cached page whatever the query: only the
	// referral code changes it, put in at the edge.
	ref := ""
	if c.Request.URL.RawQuery != "" {
		ref = refCode(c.Query("ref"))
	}
	h.servePage(c, slug, variant{lang, country}, "text/html; charset=utf-8", ref, func() (rendered, bool) {
		return h.renderCause(c, slug, country)
	})
}

// refCode returns ref if it can be a referral code (what SignInput keeps:
// 1 to MaxRef letters, digits, - and _), else "".
func refCode(ref string) string {
	if len(ref) > MaxRef || strings.IndexFunc(ref, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return ""
	}
	return ref
}

// causeFor answers a signed-in organiser with the cause page, uncached.
func (h *Handler) causeFor(c *gin.Context, slug, country string) {
	cz, owner, ok := h.findVisible(c, slug)
	if !ok {
		return
	}
	form := signForm{Country: country, Public: "1", Ref: c.Query("ref")}
	data, err := h.causeData(c, cz, owner, form, nil)
	if err != nil {
		h.fail(c, err)
		return
	}
	page := h.causePage(c, cz, data)
	h.rdr.FillPage(c, page)
	raw, err := h.renderPage("campaigns/cause.html", page)
	if err != nil {
		h.fail(c, err)
		return
	}
	writeBody(c, "text/html; charset=utf-8", newBody(raw))
}

// renderCause renders the cause page everyone not signed in gets, for
// the page cache: the page of the plain address, and the same cut around
// the referral code of a shared link (in the sign form and the language
// links). Markdown is rendered once for both.
func (h *Handler) renderCause(c *gin.Context, slug, country string) (rendered, bool) {
	cz, _, ok := h.findVisible(c, slug)
	if !ok {
		return rendered{}, false
	}
	data, err := h.causeData(c, cz, false, signForm{Country: country, Public: "1"}, nil)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	page := h.causePage(c, cz, data)
	h.rdr.FillPage(c, page)
	page.Path = "/c/" + cz.Slug
	raw, err := h.renderPage("campaigns/cause.html", page)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	withRef, err := h.renderStamped("campaigns/cause.html", page, func(i int) {
		data.Form.Ref, page.Path = phRef[i], "/c/"+cz.Slug+"?ref="+phRef[i]
	}, phRef)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	return rendered{raw: raw, withRef: withRef, cause: cz.ID, keep: cz.Public()}, true
}

func (h *Handler) signedIn(c *gin.Context) bool {
	_, ok := CurrentOrganiser(c)
	return ok
}

func (h *Handler) causeData(c *gin.Context, cz Cause, owner bool, form signForm, errs FormErrors) (*causeData, error) {
	lang := templates.LangOf(c)
	signers, err := h.store.LatestPublicSigners(c.Request.Context(), cz.ID, 10)
	if err != nil {
		return nil, err
	}
	views := make([]signerView, len(signers))
	for i, s := range signers {
		views[i] = signerView{PublicSigner: s, CountryName: CountryName(lang, s.Country)}
	}
	d := &causeData{Cause: cz, BodyHTML: h.bodies.get(cz), ImageURL: h.imageURL(cz), URL: h.causeURL(cz),
		Count: cz.SignatureCount, Goal: NextGoal(cz.SignatureCount, cz.Goal), Open: cz.Open(h.store.now()), Owner: owner,
		Signers: views, Form: form, Errors: errs, Countries: CountryOptions(lang, form.Country)}
	if h.cfg.Donations != nil && cz.Public() {
		d.Donate = h.cfg.Donations.Form(c.Request.Context(), lang, cz, "")
	}
	return d, nil
}

func (h *Handler) causeURL(cz Cause) string { return h.cfg.BaseURL + "/c/" + cz.Slug }

func (h *Handler) causePage(c *gin.Context, cz Cause, d *causeData) *templates.Page {
	meta := &templates.Meta{Title: cz.Title, Description: cz.Summary, URL: d.URL}
	if d.ImageURL != "" {
		meta.Image = h.cfg.BaseURL + d.ImageURL
	}
	return &templates.Page{Title: cz.Title, Description: cz.Summary, Meta: meta, NoIndex: !cz.Public(), Data: d}
}

func (h *Handler) renderPage(name string, p *templates.Page) ([]byte, error) {
	var b strings.Builder
	if err := h.rdr.Render(&b, name, p); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

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
		Public: checked(form.Public), Updates: checked(form.Updates), Ref: form.Ref, Lang: lang}
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
	page := &templates.Page{Title: cz.Title, NoIndex: true}
	h.rdr.FillPage(c, page)
	if page.Viewer != nil {
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
	fields := []mailField{{"Name", []string{FirstName(in.Name)}}, {"CauseTitle", []string{m.title}},
		{"Target", []string{m.target}}, {"CauseURL", []string{base, "/c/", m.slug}}, {}}
	if token != "" {
		fields[4] = mailField{"ConfirmURL", []string{base, "/confirm/", token}}
	} else {
		fields = fields[:4]
	}
	return notify.Message{To: in.Email, ToName: in.Name, Lang: in.Lang, Priority: notify.Transactional, Kind: kind,
		Template: name, DataJSON: mailData(fields...)}
}

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
}

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
	cz, err := h.store.FindCauseByToken(c.Request.Context(), token)
	if errors.Is(err, ErrNotFound) {
		h.badLink(c)
		return
	}
	if err != nil {
		h.fail(c, err)
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

// stampable reports whether a page of a confirmation link can come from
// h.stamps, rendered once per cause and language with the token put in:
// not when someone is signed in (the page names them) or the address has
// a query.
func stampable(page *templates.Page, token string) bool {
	return page.Viewer == nil && page.Path == "/confirm/"+token
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
	res, err := h.store.Confirm(c.Request.Context(), token)
	switch {
	case errors.Is(err, ErrNotFound):
		h.badLink(c)
		return
	case errors.Is(err, ErrExpired):
		lang := templates.LangOf(c)
		h.rdr.HTML(c, http.StatusGone, "campaigns/expired.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "ExpiredTitle"), NoIndex: true})
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
	page := &templates.Page{Title: cz.Title, NoIndex: true}
	h.rdr.FillPage(c, page)
	d := confirmData{Cause: cz, Count: cz.SignatureCount, Goal: NextGoal(cz.SignatureCount, cz.Goal), URL: h.causeURL(cz),
		Again: res.AlreadyConfirmed, Name: FirstName(res.Name)}
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
// count it shows, with placeholders for the person's first name, token and
// donate form. The confirmations of one batch see the same count, so under
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
			page.Path, page.Data = "/confirm/"+phToken[i], ph
		}, phName, phToken, phDonate)
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	// The token is letters, digits, - and _ (confirmToken checked it).
	st.write(c, html.EscapeString(d.Name), token, string(d.Donate))
}

// upload serves an uploaded image that a cause shows. A public cause's
// image is public and cached for good (its name changes with its content);
// a draft's is seen only by its organiser and admins, and kept by no cache.
// Any other file in the folder (an image no cause shows) is not found.
func (h *Handler) upload(c *gin.Context) {
	name := c.Param("name")
	if !uploadName.MatchString(name) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	v, err := h.store.findImageViewers(c.Request.Context(), name)
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if !v.Public {
		c.Header("Cache-Control", "private, no-store")
		if o, ok := CurrentOrganiser(c); !ok || (!o.Admin && o.ID != v.OrganiserID) {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
	} else {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
	}
	c.File(filepath.Join(h.cfg.UploadDir, name))
}

// badForm answers a form that could not be read: too large, or not a form.
func badForm(c *gin.Context, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || strings.Contains(err.Error(), "request body too large") {
		c.AbortWithStatus(http.StatusRequestEntityTooLarge)
		return
	}
	c.AbortWithStatus(http.StatusBadRequest)
}

func (h *Handler) badForm(c *gin.Context, err error) { badForm(c, err) }

// fail answers an unexpected error: 503 when the database is busy for a
// moment or the writer is stopping (the person may simply try again), 500
// otherwise. The error page middleware logs it once.
func fail(c *gin.Context, err error) {
	_ = c.Error(err)
	switch {
	case isBusy(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errClosed):
		c.Header("Retry-After", "2")
		c.AbortWithStatus(http.StatusServiceUnavailable)
	case errors.Is(err, context.Canceled):
		c.Abort()
	default:
		c.AbortWithStatus(http.StatusInternalServerError)
	}
}

func (h *Handler) fail(c *gin.Context, err error) { fail(c, err) }
