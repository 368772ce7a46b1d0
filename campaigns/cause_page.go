package campaigns

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

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
	// Source is the channel the visitor came through (utm_source).
	Source string
}

type causeData struct {
	Cause    Cause
	BodyHTML template.HTML
	ImageURL string
	URL      string
	Count    int64
	Goal     int64
	Open     bool
	Owner    bool
	Signers  []signerView
	// Liked are the most liked reasons for signing, Reasons the newest
	// others; MoreReasons says there are more to page through.
	Liked       []reasonView
	Reasons     []reasonView
	MoreReasons bool
	// Byline names who started the cause and counts the signatures of
	// the last day; Started is when it went public (a draft: created).
	Byline    Byline
	Started   time.Time
	Ended     *time.Time
	Form      signForm
	Errors    FormErrors
	Countries template.HTML
	Donate    any
	// Updates are the organiser's news, newest first; Breakdown the
	// signatures by country.
	Updates   []updateView
	Breakdown *countryChart
}

// Reasons for signing on the cause page: at most causeLiked of the most
// liked, then the newest others, causeReasons in all.
const (
	causeLiked   = 3
	causeReasons = 8
)

// causeReasons returns the reasons the cause page shows, and whether the
// cause has more.
func (h *Handler) causeReasons(c *gin.Context, cz Cause) (liked, newest []reasonView, more bool, err error) {
	ctx, lang := c.Request.Context(), templates.LangOf(c)
	top, err := h.store.Reasons(ctx, cz.ID, ReasonsTop, 0, causeLiked)
	if err != nil {
		return nil, nil, false, err
	}
	rs, err := h.store.Reasons(ctx, cz.ID, ReasonsNewest, 0, causeReasons+1)
	if err != nil {
		return nil, nil, false, err
	}
	shown := map[int64]bool{}
	for _, r := range top {
		shown[r.ID] = true
	}
	var rest []Reason
	for _, r := range rs {
		if !shown[r.ID] {
			rest = append(rest, r)
		}
	}
	n := causeReasons - len(top)
	more = len(rest) > n || len(rs) > causeReasons
	return viewReasons(lang, top), viewReasons(lang, rest[:min(n, len(rest))]), more, nil
}

// Share is the cause's link, to share.
func (d *causeData) Share() shareURL { return shareURL(d.URL) }

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
	if h.personal(c) {
		// The header names who is signed in, and an organiser sees their
		// drafts: rendered for them alone.
		h.causeFor(c, slug, country)
		return
	}
	// Everyone else gets the cached page whatever the query: only the
	// referral code and the channel change it, put in at the edge.
	ref, source := "", ""
	if c.Request.URL.RawQuery != "" {
		ref, source = refCode(c.Query("ref")), sourceName(c.Query("utm_source"))
	}
	h.servePage(c, slug, variant{lang: lang, country: country}, "text/html; charset=utf-8", ref, source, func() (rendered, bool) {
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

// causeFor answers with the cause page rendered for this request alone,
// uncached: for a signed-in organiser, or a page with a notice to show.
func (h *Handler) causeFor(c *gin.Context, slug, country string) {
	cz, owner, ok := h.findVisible(c, slug)
	if !ok {
		return
	}
	form := signForm{Country: country, Ref: c.Query("ref"), Source: sourceName(c.Query("utm_source"))}
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
// the referral code and channel of a shared link (in the sign form; the
// code also in the language links). Markdown is rendered once for both.
func (h *Handler) renderCause(c *gin.Context, slug, country string) (rendered, bool) {
	cz, _, ok := h.findVisible(c, slug)
	if !ok {
		return rendered{}, false
	}
	data, err := h.causeData(c, cz, false, signForm{Country: country}, nil)
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
		data.Form.Ref, data.Form.Source, page.Path = phRef[i], phSource[i], "/c/"+cz.Slug+"?ref="+phRef[i]
	}, phRef, phSource)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	return rendered{raw: raw, withRef: withRef, cause: cz.ID, keep: cz.Public()}, true
}

// personal reports whether the page for the request is this person's
// alone, never one kept for others: someone is signed in (the header names
// them), or a one-time notice waits to be shown (see templates.SetFlash).
func (h *Handler) personal(c *gin.Context) bool {
	return h.signedIn(c) || templates.HasFlash(c)
}

func (h *Handler) causeURL(cz Cause) string { return h.cfg.BaseURL + "/c/" + cz.Slug }

func (h *Handler) causePage(c *gin.Context, cz Cause, d *causeData) *templates.Page {
	// Links to the cause show its share card, which has its count.
	meta := &templates.Meta{Title: cz.Title, Description: cz.Summary, URL: d.URL, Image: h.cardURL(cz),
		ImageWidth: CardWidth, ImageHeight: CardHeight,
		ImageAlt: h.rdr.Catalogue.T(templates.LangOf(c), "CardAlt", "Title", cz.Title)}
	return &templates.Page{Title: cz.Title, Description: cz.Summary, Meta: meta, NoIndex: !cz.Public(), Data: d}
}

func (h *Handler) causeData(c *gin.Context, cz Cause, owner bool, form signForm, errs FormErrors) (*causeData, error) {
	lang := templates.LangOf(c)
	signers, err := h.store.LatestPublicSigners(c.Request.Context(), cz.ID, 10)
	if err != nil {
		return nil, err
	}
	now := h.store.now()
	byline, err := h.store.FindByline(c.Request.Context(), cz, now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	views := make([]signerView, len(signers))
	for i, s := range signers {
		views[i] = signerView{PublicSigner: s, CountryName: CountryName(lang, s.Country)}
	}
	d := &causeData{Cause: cz, BodyHTML: h.bodies.get(cz), ImageURL: h.imageURL(cz), URL: h.causeURL(cz),
		Count: cz.SignatureCount, Goal: NextGoal(cz.SignatureCount, cz.Goal), Open: cz.Open(h.store.now()), Owner: owner,
		Signers: views, Byline: byline, Started: cz.CreatedAt, Ended: cz.EndedAt(now),
		Form: form, Errors: errs, Countries: CountryOptions(lang, form.Country)}
	if cz.PublishedAt != nil {
		d.Started = *cz.PublishedAt
	}
	us, err := h.store.ListUpdates(c.Request.Context(), cz.ID, maxUpdatesOnCause)
	if err != nil {
		return nil, err
	}
	d.Updates = h.viewUpdates(us)
	if d.Liked, d.Reasons, d.MoreReasons, err = h.causeReasons(c, cz); err != nil {
		return nil, err
	}
	if d.Breakdown, err = h.countryChart(c, cz); err != nil {
		return nil, err
	}
	if h.cfg.Donations != nil && cz.Public() {
		d.Donate = h.cfg.Donations.Form(c.Request.Context(), lang, cz, "")
	}
	return d, nil
}
