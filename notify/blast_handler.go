package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// Organiser is the signed-in organiser, as blasts need them.
type Organiser struct {
	ID        int64
	Name      string
	Email     string
	Confirmed bool // they proved they own their address
	Admin     bool
}

// OrganiserRoutes mounts the blast pages in the organiser's area. The
// caller puts the login check (and the cross-origin check) in front; owns
// says whether the signed-in organiser may manage the cause with a slug
// (its organiser, or an admin), and current who they are. Anyone else
// gets 404 for a cause's blasts, as if there were none.
//
//	GET  /campaigns/{slug}/blasts              the cause's blasts
//	GET  /campaigns/{slug}/blasts/new          the compose form
//	POST /campaigns/{slug}/blasts              save a draft
//	GET  /campaigns/{slug}/blasts/{id}         preview, audience, progress, figures
//	GET  /campaigns/{slug}/blasts/{id}.json    the figures
//	GET  /campaigns/{slug}/blasts/{id}/edit    a draft's form; POST saves it
//	GET  /campaigns/{slug}/blasts/{id}/preview the HTML mail, for the page's frame
//	POST /campaigns/{slug}/blasts/{id}/send    now, or at send_at in tz
//	POST /campaigns/{slug}/blasts/{id}/test    to the organiser
//	POST …/pause, …/resume, …/cancel, …/retry
func (s *Blasts) OrganiserRoutes(r gin.IRoutes, owns func(*gin.Context, string) bool, current func(*gin.Context) (Organiser, bool)) {
	s.owns, s.current = owns, current
	r.GET("/campaigns/:slug/blasts", s.list)
	r.GET("/campaigns/:slug/blasts/new", s.newForm)
	r.POST("/campaigns/:slug/blasts", s.create)
	r.GET("/campaigns/:slug/blasts/:id", s.show)
	r.GET("/campaigns/:slug/blasts/:id/edit", s.editForm)
	r.POST("/campaigns/:slug/blasts/:id/edit", s.update)
	r.GET("/campaigns/:slug/blasts/:id/preview", s.preview)
	r.POST("/campaigns/:slug/blasts/:id/send", s.send)
	r.POST("/campaigns/:slug/blasts/:id/test", s.test)
	r.POST("/campaigns/:slug/blasts/:id/pause", s.action(s.pause))
	r.POST("/campaigns/:slug/blasts/:id/resume", s.action(s.resume))
	r.POST("/campaigns/:slug/blasts/:id/cancel", s.action(s.cancel))
	r.POST("/campaigns/:slug/blasts/:id/retry", s.action(func(ctx context.Context, id int64) error {
		_, err := s.retryFailed(ctx, id)
		return err
	}))
}

// AdminRoutes mounts what only admins may do; the caller puts the admin
// check in front.
//
//	POST /admin/organisers/{id}/blast-cap  daily_cap, and slug to go back to
func (s *Blasts) AdminRoutes(r gin.IRoutes) {
	r.POST("/organisers/:id/blast-cap", s.setCap)
}

// PublicRoutes mounts the links in blast mails: tracked links and the
// open image (/t/{token}) and unsubscribing (/u/{token}).
func (s *Blasts) PublicRoutes(r gin.IRoutes) {
	r.GET("/t/:token", s.track)
	r.GET("/u/:token", s.unsubscribePage)
	r.POST("/u/:token", s.unsubscribe)
}

// ownCause loads the cause in the URL if the signed-in organiser may manage
// it; otherwise it answers 404.
func (s *Blasts) ownCause(c *gin.Context) (Cause, Organiser, bool) {
	o, ok := s.current(c)
	slug := c.Param("slug")
	if !ok || !s.owns(c, slug) {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, o, false
	}
	cz, err := s.aud.Cause(c.Request.Context(), slug)
	if err != nil {
		s.fail(c, err)
		return Cause{}, o, false
	}
	return cz, o, true
}

// ownBlast loads the cause and the blast in the URL, answering 404 unless
// the organiser may manage the cause and the blast is the cause's.
func (s *Blasts) ownBlast(c *gin.Context) (Cause, Blast, Organiser, bool) {
	cz, o, ok := s.ownCause(c)
	if !ok {
		return cz, Blast{}, o, false
	}
	id, err := strconv.ParseInt(strings.TrimSuffix(c.Param("id"), ".json"), 10, 64)
	if err != nil || id <= 0 {
		c.AbortWithStatus(http.StatusNotFound)
		return cz, Blast{}, o, false
	}
	b, err := findBlast(c.Request.Context(), s.r, id)
	if err == nil && b.CauseID != cz.ID {
		err = ErrNotFound
	}
	if err != nil {
		s.fail(c, err)
		return cz, b, o, false
	}
	return cz, b, o, true
}

// fail answers 404 for what does not exist and 500 (logged once by the
// error pages) for anything else.
func (s *Blasts) fail(c *gin.Context, err error) {
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	_ = c.Error(err)
	c.AbortWithStatus(http.StatusInternalServerError)
}

func (s *Blasts) page(c *gin.Context, status int, name, title string, data any) {
	c.Header("Cache-Control", "private, no-store")
	s.rdr.HTML(c, status, name, &templates.Page{Title: title, NoIndex: true, Wide: true, Data: data})
}

func (s *Blasts) t(c *gin.Context, id string, args ...any) string {
	return s.rdr.Catalogue.T(templates.LangOf(c), id, args...)
}

// blastRow is a blast with its figures, for the list.
type blastRow struct {
	Blast
	Counts BlastCounts
}

type blastsPageData struct {
	Cause      Cause
	Rows       []blastRow
	DNS        SenderDNS
	FromDomain string
	Cap        int64
	Used       int64
	CanCompose bool
	Admin      bool
	CapError   string
	CapValue   string
}

func (s *Blasts) list(c *gin.Context) {
	cz, o, ok := s.ownCause(c)
	if !ok {
		return
	}
	s.renderList(c, http.StatusOK, cz, o, "", "")
}

func (s *Blasts) renderList(c *gin.Context, status int, cz Cause, o Organiser, capValue, capError string) {
	ctx := c.Request.Context()
	blasts, err := s.listBlasts(ctx, cz.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	d := blastsPageData{Cause: cz, CanCompose: o.Confirmed || o.Admin, Admin: o.Admin, CapError: capError, CapValue: capValue}
	for _, b := range blasts {
		counts, err := s.counts(ctx, b.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		d.Rows = append(d.Rows, blastRow{Blast: b, Counts: counts})
	}
	if d.Cap, err = s.dailyCap(ctx, cz.OrganiserID); err != nil {
		s.fail(c, err)
		return
	}
	if d.Used, err = s.usedToday(ctx, cz.OrganiserID); err != nil {
		s.fail(c, err)
		return
	}
	if d.CapValue == "" {
		d.CapValue = strconv.FormatInt(d.Cap, 10)
	}
	d.FromDomain = domainOf(s.cfg.MailFrom)
	d.DNS = s.dns.status(d.FromDomain, s.cfg.DKIMDomain, s.cfg.DKIMSelector)
	s.page(c, status, "notify/blasts.html", s.t(c, "BlastsTitle")+" · "+cz.Title, d)
}

// domainOf returns the domain of an address such as "Rally <rally@example.org>".
func domainOf(from string) string {
	if from == "" {
		from = DefaultFrom
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return ""
	}
	return strings.ToLower(a.Address[strings.LastIndexByte(a.Address, '@')+1:])
}

// blastForm is the compose form as typed.
type blastForm struct {
	Subject    string
	Body       string
	CTALabel   string
	CTAURL     string
	SubjectFR  string
	BodyFR     string
	CTALabelFR string
	Countries  []string
	TrackOpens bool
}

func readBlastForm(c *gin.Context) blastForm {
	f := blastForm{Subject: c.PostForm("subject"), Body: c.PostForm("body"), CTALabel: c.PostForm("cta_label"),
		CTAURL: c.PostForm("cta_url"), SubjectFR: c.PostForm("subject_fr"), BodyFR: c.PostForm("body_fr"),
		CTALabelFR: c.PostForm("cta_label_fr"), Countries: c.PostFormArray("countries")}
	switch c.PostForm("track_opens") {
	case "1", "on", "true":
		f.TrackOpens = true
	}
	return f
}

func (f blastForm) input() BlastInput {
	return BlastInput{Subject: f.Subject, Body: f.Body, CTALabel: f.CTALabel, CTAURL: f.CTAURL, SubjectFR: f.SubjectFR,
		BodyFR: f.BodyFR, CTALabelFR: f.CTALabelFR, Countries: f.Countries, TrackOpens: f.TrackOpens}
}

func formOf(b Blast) blastForm {
	return blastForm{Subject: b.Subject, Body: b.Body, CTALabel: b.CTALabel, CTAURL: b.CTAURL, SubjectFR: b.SubjectFR,
		BodyFR: b.BodyFR, CTALabelFR: b.CTALabelFR, Countries: b.Countries, TrackOpens: b.TrackOpens}
}

// countryChoice is a country box of the form.
type countryChoice struct {
	Country
	Checked bool
}

type blastFormData struct {
	Cause     Cause
	Blast     *Blast
	Form      blastForm
	Errors    map[string]string
	Countries []countryChoice
	Max       map[string]int
	CanSend   bool
}

func (s *Blasts) newForm(c *gin.Context) {
	cz, o, ok := s.ownCause(c)
	if !ok {
		return
	}
	s.renderForm(c, http.StatusOK, cz, o, nil, blastForm{CTAURL: cz.URL}, nil)
}

func (s *Blasts) editForm(c *gin.Context) {
	cz, b, o, ok := s.ownBlast(c)
	if !ok {
		return
	}
	if !b.Editable() {
		c.Redirect(http.StatusSeeOther, blastPath(cz, b.ID))
		return
	}
	s.renderForm(c, http.StatusOK, cz, o, &b, formOf(b), nil)
}

func (s *Blasts) renderForm(c *gin.Context, status int, cz Cause, o Organiser, b *Blast, f blastForm, errs FieldErrors) {
	countries, err := s.aud.Countries(c.Request.Context(), cz.ID, templates.LangOf(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	d := blastFormData{Cause: cz, Blast: b, Form: f, Errors: map[string]string{}, CanSend: o.Confirmed || o.Admin,
		Max: map[string]int{"subject": maxSubject, "body": maxBody, "cta_label": maxCTALabel, "cta_url": maxURL}}
	for field, p := range errs {
		d.Errors[field] = s.t(c, p.ID, p.Args...)
	}
	checked := map[string]bool{}
	for _, code := range f.Countries {
		checked[strings.ToUpper(code)] = true
	}
	for _, ct := range countries {
		d.Countries = append(d.Countries, countryChoice{Country: ct, Checked: checked[ct.Code]})
		delete(checked, ct.Code)
	}
	// A country ticked before its last signer unsubscribed stays, unticked
	// only by the organiser.
	for code := range checked {
		d.Countries = append(d.Countries, countryChoice{Country: Country{Code: code, Name: code}, Checked: true})
	}
	title := s.t(c, "BlastNewTitle")
	if b != nil {
		title = s.t(c, "BlastEditTitle")
	}
	s.page(c, status, "notify/blast_form.html", title+" · "+cz.Title, d)
}

func (s *Blasts) create(c *gin.Context) {
	cz, o, ok := s.ownCause(c)
	if !ok {
		return
	}
	f := readBlastForm(c)
	in := f.input()
	if errs := in.Validate(); len(errs) > 0 {
		s.renderForm(c, http.StatusUnprocessableEntity, cz, o, nil, f, errs)
		return
	}
	id, err := s.createBlast(c.Request.Context(), cz, o.ID, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, blastPath(cz, id))
}

func (s *Blasts) update(c *gin.Context) {
	cz, b, o, ok := s.ownBlast(c)
	if !ok {
		return
	}
	f := readBlastForm(c)
	in := f.input()
	if errs := in.Validate(); len(errs) > 0 {
		s.renderForm(c, http.StatusUnprocessableEntity, cz, o, &b, f, errs)
		return
	}
	err := s.updateBlast(c.Request.Context(), b.ID, cz, in)
	if errors.Is(err, errWrongStatus) {
		s.renderBlast(c, http.StatusConflict, cz, b, o, s.t(c, "BlastErrNotDraft"), "")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, blastPath(cz, b.ID))
}

func blastPath(cz Cause, id int64) string {
	return "/campaigns/" + cz.Slug + "/blasts/" + strconv.FormatInt(id, 10)
}

// blastJSON is GET …/blasts/{id}.json.
type blastJSON struct {
	ID             int64  `json:"id"`
	Status         string `json:"status"`
	Recipients     int64  `json:"recipients"`
	Queued         int64  `json:"queued"`
	Sent           int64  `json:"sent"`
	Failed         int64  `json:"failed"`
	Bounced        int64  `json:"bounced"`
	Suppressed     int64  `json:"suppressed"`
	Clicks         int64  `json:"clicks"`
	UniqueClickers int64  `json:"unique_clickers"`
	HumanClicks    int64  `json:"human_clicks"`
	Unsubscribes   int64  `json:"unsubscribes"`
}

type blastPageData struct {
	Cause   Cause
	Blast   Blast
	Counts  BlastCounts
	Links   []LinkStats
	Problem string
	Notice  string
	// Audience is who it goes to: counted now for a draft, the delivery
	// rows once sent.
	Audience int64
	// Progress while it sends.
	Done    int64
	Percent int64
	Rate    int64 // messages a minute since it started
	Left    string
	// Send form.
	SendAt   string
	TZ       string
	Zones    []string
	SendAtTZ string // the scheduled time, in its zone
	// CountryList names the countries it is limited to.
	CountryList string
	// Preview.
	Subject   string
	SubjectFR string
	Text      string
	TextFR    string
	CanSend   bool
	Editable  bool
	Live      bool
	Sending   bool
	HumanRate string
}

func (s *Blasts) show(c *gin.Context) {
	cz, b, o, ok := s.ownBlast(c)
	if !ok {
		return
	}
	if strings.HasSuffix(c.Param("id"), ".json") {
		s.json(c, b)
		return
	}
	notice := ""
	switch c.Query("done") {
	case "test":
		notice = s.t(c, "BlastNoticeTest", "Email", o.Email)
	case "retry":
		notice = s.t(c, "BlastNoticeRetry")
	}
	s.renderBlast(c, http.StatusOK, cz, b, o, "", notice, "")
}

func (s *Blasts) json(c *gin.Context, b Blast) {
	counts, err := s.counts(c.Request.Context(), b.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.JSON(http.StatusOK, blastJSON{ID: b.ID, Status: b.Status, Recipients: b.Recipients, Queued: counts.Queued,
		Sent: counts.Sent, Failed: counts.Failed, Bounced: counts.Bounced, Suppressed: counts.Suppressed,
		Clicks: counts.Clicks, UniqueClickers: counts.UniqueClickers, HumanClicks: counts.HumanClicks,
		Unsubscribes: counts.Unsubscribes})
}

// zones are offered in the send form's list of time zones; any IANA name
// may be typed.
var zones = []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Brussels",
	"Europe/Amsterdam", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Zurich", "Europe/Stockholm",
	"Europe/Warsaw", "Europe/Athens", "Europe/Helsinki", "Africa/Casablanca", "Africa/Dakar", "Africa/Abidjan",
	"Africa/Kinshasa", "Africa/Lagos", "Africa/Nairobi", "Africa/Johannesburg", "America/Montreal", "America/Toronto",
	"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Mexico_City",
	"America/Sao_Paulo", "America/Martinique", "America/Cayenne", "Indian/Reunion", "Pacific/Noumea", "Pacific/Tahiti",
	"Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney"}

// renderBlast renders the blast's page with a problem or a notice (both
// translated); sendAt and tz are what was typed into the send form.
func (s *Blasts) renderBlast(c *gin.Context, status int, cz Cause, b Blast, o Organiser, problem, notice string, sendAt ...string) {
	ctx := c.Request.Context()
	counts, err := s.counts(ctx, b.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	d := blastPageData{Cause: cz, Blast: b, Counts: counts, Notice: notice, CanSend: o.Confirmed || o.Admin,
		Editable: b.Editable(), Live: b.Live(), Sending: b.Status == BlastSending, Zones: zones, TZ: "UTC"}
	d.Problem = problem
	d.CountryList = strings.Join(b.Countries, ", ")
	if len(sendAt) == 2 {
		d.SendAt, d.TZ = sendAt[0], sendAt[1]
		if d.TZ == "" {
			d.TZ = "UTC"
		}
	}
	if d.Links, err = s.linkStats(ctx, b); err != nil {
		s.fail(c, err)
		return
	}
	if b.Status == BlastDraft || b.Status == BlastScheduled {
		if d.Audience, err = s.audienceSize(ctx, cz.ID, b.Countries); err != nil {
			s.fail(c, err)
			return
		}
	} else {
		d.Audience = b.Recipients
	}
	if b.SendAt != nil {
		loc, err := time.LoadLocation(b.TZ)
		if err != nil {
			loc = time.UTC
		}
		d.SendAtTZ = b.SendAt.In(loc).Format("2006-01-02 15:04") + " (" + loc.String() + ")"
	}
	d.Done = counts.Done()
	if b.Recipients > 0 {
		d.Percent = min(d.Done*100/b.Recipients, 100)
	}
	if b.StartedAt != nil && counts.Sent > 0 {
		end := s.now()
		if b.FinishedAt != nil {
			end = *b.FinishedAt
		}
		if secs := end.Sub(*b.StartedAt).Seconds(); secs > 0 {
			perSec := float64(d.Done) / secs
			d.Rate = int64(perSec * 60)
			if left := b.Recipients - d.Done; left > 0 && perSec > 0 && b.Status == BlastSending {
				d.Left = roundDuration(time.Duration(float64(left) / perSec * float64(time.Second)))
			}
		}
	}
	// The preview: the mail as the organiser would get it.
	rc := recipient{firstName: FirstName(o.Name)}
	var m Message
	if err := s.mailFor(b, "en", rc, false, &m); err != nil {
		s.fail(c, err)
		return
	}
	d.Subject, d.Text = m.Subject, m.Text
	if b.HasFrench() {
		var fr Message
		if err := s.mailFor(b, "fr", rc, false, &fr); err != nil {
			s.fail(c, err)
			return
		}
		d.SubjectFR, d.TextFR = fr.Subject, fr.Text
	}
	s.page(c, status, "notify/blast.html", b.Subject+" · "+cz.Title, d)
}

// roundDuration writes d as "1h05m", "4m10s" or "12s".
func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", max(int(d.Round(time.Second).Seconds()), 1))
}

// preview serves a version of the mail's HTML part alone, for the blast
// page's frame, as the organiser would get it: sandboxed, with no script,
// links opening a new tab.
func (s *Blasts) preview(c *gin.Context) {
	_, b, o, ok := s.ownBlast(c)
	if !ok {
		return
	}
	version := "en"
	if c.Query("version") == "fr" && b.HasFrench() {
		version = "fr"
	}
	var m Message
	if err := s.mailFor(b, version, recipient{firstName: FirstName(o.Name)}, false, &m); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.Header("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "+
		"img-src http: https: data:; style-src 'unsafe-inline'; frame-ancestors 'self'")
	c.Header("X-Frame-Options", "SAMEORIGIN")
	c.Header("Referrer-Policy", "no-referrer")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(withBaseTarget(m.HTML)))
}

// sendTimeLayout is how the send form's send_at is written (datetime-local).
const sendTimeLayout = "2006-01-02T15:04"

func (s *Blasts) send(c *gin.Context) {
	cz, b, o, ok := s.ownBlast(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	typedAt, typedTZ := strings.TrimSpace(c.PostForm("send_at")), strings.TrimSpace(c.PostForm("tz"))
	again := func(status int, problem string) {
		s.renderBlast(c, status, cz, b, o, s.t(c, problem), "", typedAt, typedTZ)
	}
	if !o.Confirmed && !o.Admin {
		again(http.StatusForbidden, "BlastErrConfirmFirst")
		return
	}
	if b.Status != BlastDraft && b.Status != BlastScheduled {
		again(http.StatusConflict, "BlastErrNotDraft")
		return
	}
	var at *time.Time
	tz := typedTZ
	if tz == "" {
		tz = "UTC"
	}
	if typedAt != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil || strings.Contains(tz, "..") || tz == "Local" {
			again(http.StatusUnprocessableEntity, "BlastErrTZ")
			return
		}
		t, err := time.ParseInLocation(sendTimeLayout, typedAt, loc)
		if err != nil {
			again(http.StatusUnprocessableEntity, "BlastErrSendAt")
			return
		}
		if !t.After(s.now()) {
			again(http.StatusUnprocessableEntity, "BlastErrSendAtPast")
			return
		}
		if t.After(s.now().AddDate(1, 0, 0)) {
			again(http.StatusUnprocessableEntity, "BlastErrSendAtFar")
			return
		}
		u := t.UTC()
		at = &u
	}
	s.mu.Lock()
	delete(s.sizes, strconv.FormatInt(cz.ID, 10)+":"+strings.Join(b.Countries, ","))
	s.mu.Unlock()
	n, err := s.audienceSize(ctx, cz.ID, b.Countries)
	if err != nil {
		s.fail(c, err)
		return
	}
	if n == 0 {
		again(http.StatusUnprocessableEntity, "BlastErrNobody")
		return
	}
	if !o.Admin {
		limit, err := s.dailyCap(ctx, o.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		used, err := s.usedToday(ctx, o.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		if used+n > limit {
			lang := templates.LangOf(c)
			problem := s.t(c, "BlastErrCapReached", "Count", n, "Cap", s.rdr.Catalogue.Number(lang, limit),
				"Left", s.rdr.Catalogue.Number(lang, max(limit-used, 0)))
			s.renderBlast(c, http.StatusUnprocessableEntity, cz, b, o, problem, "", typedAt, typedTZ)
			return
		}
	}
	err = s.startBlast(ctx, b, cz, sender{ID: o.ID, Name: o.Name, Email: o.Email}, at, tz, n)
	if errors.Is(err, errWrongStatus) {
		again(http.StatusConflict, "BlastErrNotDraft")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, blastPath(cz, b.ID))
}

// test queues the blast to the organiser, in each of its versions, ahead
// of bulk mail.
func (s *Blasts) test(c *gin.Context) {
	cz, b, o, ok := s.ownBlast(c)
	if !ok {
		return
	}
	if !o.Confirmed && !o.Admin {
		s.renderBlast(c, http.StatusForbidden, cz, b, o, s.t(c, "BlastErrConfirmFirst"), "")
		return
	}
	versions := []string{"en"}
	if b.HasFrench() {
		versions = append(versions, "fr")
	}
	ctx := c.Request.Context()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		s.fail(c, err)
		return
	}
	defer func() { _ = tx.Rollback() }()
	for _, v := range versions {
		err := Enqueue(ctx, tx, Message{To: o.Email, Lang: v, Priority: Transactional, Kind: "blast_test", Template: blastTemplate,
			Data: map[string]string{"blast": strconv.FormatInt(b.ID, 10), "delivery": "0", "first_name": FirstName(o.Name),
				"from_name": o.Name, "reply_to": o.Email, "cause_title": cz.Title}})
		if err != nil {
			s.fail(c, err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		s.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, blastPath(cz, b.ID)+"?done=test")
}

// action runs a pause, resume, cancel or retry, then goes back to the
// blast's page; one its status does not allow answers 409 with the page.
func (s *Blasts) action(do func(context.Context, int64) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		cz, b, o, ok := s.ownBlast(c)
		if !ok {
			return
		}
		err := do(c.Request.Context(), b.ID)
		if errors.Is(err, errWrongStatus) {
			s.renderBlast(c, http.StatusConflict, cz, b, o, s.t(c, "BlastErrStatus"), "")
			return
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		to := blastPath(cz, b.ID)
		if strings.HasSuffix(c.Request.URL.Path, "/retry") {
			to += "?done=retry"
		}
		c.Redirect(http.StatusSeeOther, to)
	}
}

// maxDailyCap bounds what an admin may set.
const maxDailyCap = 10_000_000

func (s *Blasts) setCap(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	slug := c.PostForm("slug")
	typed := strings.TrimSpace(strings.ReplaceAll(c.PostForm("daily_cap"), " ", ""))
	typed = strings.ReplaceAll(strings.ReplaceAll(typed, ",", ""), "\u202f", "")
	limit, perr := strconv.ParseInt(typed, 10, 64)
	var cz Cause
	var o Organiser
	if slug != "" {
		o, _ = s.current(c)
		if cz, err = s.aud.Cause(c.Request.Context(), slug); err != nil || cz.OrganiserID != id {
			slug = ""
		}
	}
	if perr != nil || limit < 0 || limit > maxDailyCap {
		if slug == "" {
			c.AbortWithStatus(http.StatusUnprocessableEntity)
			return
		}
		s.renderList(c, http.StatusUnprocessableEntity, cz, o, c.PostForm("daily_cap"), s.t(c, "BlastErrCap", "Max", s.rdr.Catalogue.Number(templates.LangOf(c), maxDailyCap)))
		return
	}
	if err := s.setDailyCap(c.Request.Context(), id, limit); err != nil {
		s.fail(c, err)
		return
	}
	if slug == "" {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cz.Slug+"/blasts")
}
