package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// OrganiserRoutes mounts the organiser's area. The caller puts the CSRF check
// and RequireOrganiser in front of it.
func (h *Handler) OrganiserRoutes(r gin.IRoutes) {
	r.GET("/dashboard", h.dashboard)
	r.GET("/campaigns/new", h.newCause)
	r.GET("/campaigns/new/image/:name", h.pendingImage)
	r.POST("/campaigns/new", h.createCause)
	r.GET("/campaigns/:slug", h.overview)
	r.GET("/campaigns/:slug/edit", h.editCause)
	r.POST("/campaigns/:slug/edit", h.updateCause)
	r.POST("/campaigns/:slug/status", h.setStatus)
	r.GET("/campaigns/:slug/signatures.csv", h.exportCSV)
}

// CauseStats counts a cause's signatures.
type CauseStats struct {
	Confirmed int64
	Pending   int64
}

// Stats counts the confirmed and pending signatures of a cause. Confirmed
// ones are counted as confirmations happen (causes.signature_count); pending
// ones are all of the cause's signatures, counted in the (cause_id) index,
// less those. One statement reads both, so they agree. Someone who signed
// twice before confirming is two pending signings until one link is used;
// the other then stays pending.
func (s *Store) Stats(ctx context.Context, causeID int64) (CauseStats, error) {
	var st CauseStats
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT signature_count FROM causes WHERE id = ?),
		(SELECT count(*) FROM signatures WHERE cause_id = ?)`, causeID, causeID).Scan(&st.Confirmed, &st.Pending)
	if err != nil {
		return st, fmt.Errorf("cause stats: %w", err)
	}
	st.Pending = max(st.Pending-st.Confirmed, 0)
	return st, nil
}

// SignatureRow is one signature as the organiser sees it.
type SignatureRow struct {
	ID          int64
	Name        string
	Email       string
	Country     string
	Postcode    string
	Comment     string
	Public      bool
	Updates     bool
	CreatedAt   time.Time
	ConfirmedAt *time.Time
}

// ListConfirmedSignatures returns a page of a cause's confirmed signatures,
// newest first, with ids below before (0 for the first page). Signatures
// not confirmed are left out: anyone can type anyone's name and address into
// a sign form, and until its owner confirms, neither is the organiser's to
// see (Stats counts them).
func (s *Store) ListConfirmedSignatures(ctx context.Context, causeID, before int64, limit int) ([]SignatureRow, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT s.id, s.name, s.email, s.country, s.postcode, s.comment, s.is_public,
		s.consent_updates, s.created_at, s.confirmed_at
		FROM signatures s
		WHERE s.cause_id = ? AND s.id < ? AND s.confirmed_at IS NOT NULL ORDER BY s.id DESC LIMIT ?`, causeID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list signatures: %w", err)
	}
	defer rows.Close()
	var out []SignatureRow
	for rows.Next() {
		var r SignatureRow
		var confirmed sql.NullTime
		if err := rows.Scan(&r.ID, &r.Name, &r.Email, &r.Country, &r.Postcode, &r.Comment, &r.Public, &r.Updates,
			&r.CreatedAt, &confirmed); err != nil {
			return nil, fmt.Errorf("list signatures: %w", err)
		}
		r.ConfirmedAt = timePtr(confirmed)
		out = append(out, r)
	}
	return out, rows.Err()
}

type dashboardRow struct {
	Cause Cause
	Stats CauseStats
}

type dashboardData struct {
	Rows        []dashboardRow
	Confirmed   bool
	Admin       bool
	DonationsOn bool
}

func (h *Handler) dashboard(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	owner := o.ID
	if o.Admin {
		owner = 0
	}
	causes, err := h.store.ListByOrganiser(c.Request.Context(), owner)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := dashboardData{Confirmed: o.EmailConfirmed(), Admin: o.Admin, DonationsOn: h.cfg.Donations != nil && h.cfg.Donations.Enabled()}
	for _, cz := range causes {
		st, err := h.store.Stats(c.Request.Context(), cz.ID)
		if err != nil {
			h.fail(c, err)
			return
		}
		d.Rows = append(d.Rows, dashboardRow{Cause: cz, Stats: st})
	}
	c.Header("Cache-Control", "private, no-store")
	lang := templates.LangOf(c)
	h.rdr.HTML(c, http.StatusOK, "campaigns/dashboard.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "DashTitle"), NoIndex: true, Wide: true, Data: d})
}

// OwnsCause reports whether the signed-in organiser may manage the cause
// with the given slug: its organiser, or an admin.
func (h *Handler) OwnsCause(c *gin.Context, slug string) bool {
	o, ok := CurrentOrganiser(c)
	if !ok {
		return false
	}
	cz, err := h.store.FindCauseBySlug(c.Request.Context(), slug)
	return err == nil && (o.Admin || cz.OrganiserID == o.ID)
}

// ownCause loads the cause in the URL if the signed-in organiser may manage
// it; otherwise it answers 404, as if the cause did not exist.
func (h *Handler) ownCause(c *gin.Context) (Cause, Organiser, bool) {
	o, _ := CurrentOrganiser(c)
	cz, err := h.store.FindCauseBySlug(c.Request.Context(), c.Param("slug"))
	if errors.Is(err, ErrNotFound) || (err == nil && !o.Admin && cz.OrganiserID != o.ID) {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, o, false
	}
	if err != nil {
		h.fail(c, err)
		return Cause{}, o, false
	}
	return cz, o, true
}

type overviewData struct {
	Cause      Cause
	Stats      CauseStats
	Goal       int64
	Rows       []SignatureRow
	Next       int64
	URL        string
	Problem    string
	Confirmed  bool
	CanPublish bool
	Open       bool
	EndsPassed bool
	// Ended is when the cause stopped taking signatures, if it has.
	Ended       *time.Time
	DonationsOn bool
	// CountryNames names the countries of Rows in the page's language.
	CountryNames map[string]string
}

func (h *Handler) overview(c *gin.Context) {
	cz, o, ok := h.ownCause(c)
	if !ok {
		return
	}
	h.renderOverview(c, http.StatusOK, cz, o, "")
}

func (h *Handler) renderOverview(c *gin.Context, status int, cz Cause, o Organiser, problem string) {
	st, err := h.store.Stats(c.Request.Context(), cz.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	const perPage = 50
	rows, err := h.store.ListConfirmedSignatures(c.Request.Context(), cz.ID, before, perPage+1)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := overviewData{Cause: cz, Stats: st, Goal: NextGoal(cz.SignatureCount, cz.Goal), URL: h.causeURL(cz), Problem: problem,
		Confirmed: o.EmailConfirmed(), Open: cz.Open(h.store.now()),
		EndsPassed: cz.EndsAt != nil && !h.store.now().Before(*cz.EndsAt), Ended: cz.EndedAt(h.store.now())}
	d.CanPublish = cz.Status == Draft || (cz.Status == Closed && !d.EndsPassed)
	if len(rows) > perPage {
		rows = rows[:perPage]
		d.Next = rows[perPage-1].ID
	}
	d.Rows = rows
	d.CountryNames = map[string]string{}
	for _, r := range rows {
		d.CountryNames[r.Country] = CountryName(templates.LangOf(c), r.Country)
	}
	if h.cfg.Donations != nil {
		_, d.DonationsOn, _ = h.cfg.Donations.Totals(c.Request.Context(), templates.LangOf(c), cz)
	}
	c.Header("Cache-Control", "private, no-store")
	h.rdr.HTML(c, status, "campaigns/overview.html", &templates.Page{Title: cz.Title, NoIndex: true, Wide: true, Data: d})
}

// causeForm is the cause form as typed.
type causeForm struct {
	Title    string `form:"title"`
	Summary  string `form:"summary"`
	Target   string `form:"target"`
	Goal     string `form:"goal"`
	EndsAt   string `form:"ends_at"`
	Body     string `form:"body"`
	ImageAlt string `form:"image_alt"`
}

type causeFormData struct {
	Form   causeForm
	Errors FormErrors
	Cause  *Cause
	Max    map[string]int
	// Pending is the image chosen in the form last sent, kept while the
	// form has errors.
	Pending string
}

var causeLimits = map[string]int{"title": MaxTitle, "summary": MaxSummary, "target": MaxTarget, "body": MaxBody}

func (f causeForm) input(lang string) (CauseInput, FormErrors) {
	errs := FormErrors{}
	in := CauseInput{Title: strings.TrimSpace(f.Title), Summary: strings.TrimSpace(f.Summary), Target: strings.TrimSpace(f.Target),
		BodyMD: f.Body, ImageAlt: strings.TrimSpace(f.ImageAlt), Lang: lang}
	goal, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(f.Goal), ",", ""), 10, 64)
	if err != nil {
		errs["goal"] = Problem{ID: "CauseErrGoal", Max: MaxGoal}
	}
	in.Goal = goal
	if s := strings.TrimSpace(f.EndsAt); s != "" {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			errs["ends_at"] = Problem{ID: "CauseErrEndsAtFormat"}
		} else {
			end := d.Add(24*time.Hour - time.Second).UTC()
			in.EndsAt = &end
		}
	}
	return in, errs
}

func (h *Handler) newCause(c *gin.Context) {
	h.renderCauseForm(c, http.StatusOK, causeFormData{Form: causeForm{Goal: "1000"}})
}

func (h *Handler) renderCauseForm(c *gin.Context, status int, d causeFormData) {
	d.Max = causeLimits
	lang := templates.LangOf(c)
	title := h.rdr.Catalogue.T(lang, "CauseNewTitle")
	if d.Cause != nil {
		title = h.rdr.Catalogue.T(lang, "CauseEditTitle")
	}
	c.Header("Cache-Control", "private, no-store")
	h.rdr.HTML(c, status, "campaigns/cause_form.html", &templates.Page{Title: title, NoIndex: true, Data: d})
}

// readCauseForm binds and validates the cause form and saves any image. It
// answers the request itself when the form cannot be read. An image chosen
// in a form that has errors is kept (see pending_image.go): the form comes
// back showing it, and the image is the cause's once the form is sent
// without errors. It returns that image ready for the cause, or else the
// one pending.
func (h *Handler) readCauseForm(c *gin.Context, cur *Cause) (f causeForm, in CauseInput, image, pending string, errs FormErrors, ok bool) {
	if err := c.ShouldBind(&f); err != nil {
		h.badForm(c, err)
		return f, CauseInput{}, "", "", nil, false
	}
	in, errs = f.input(templates.LangOf(c))
	for k, v := range in.Validate(h.store.now()) {
		if _, dup := errs[k]; !dup {
			errs[k] = v
		}
	}
	// An end date already set on a published cause may stay as it is.
	if cur != nil && cur.EndsAt != nil && in.EndsAt != nil && in.EndsAt.Equal(*cur.EndsAt) && errs["ends_at"].ID == "CauseErrEndsAt" {
		delete(errs, "ends_at")
	}
	o, _ := CurrentOrganiser(c)
	kept := c.PostForm("pending_image")
	if fh, err := c.FormFile("image"); err == nil && fh.Size > 0 {
		name, err := h.storeUpload(c, fh)
		switch {
		case errors.Is(err, errImageTooBig), errors.Is(err, errImageLimit):
			errs["image"] = Problem{ID: err.Error(), Max: imageProblemMax(err)}
		case errors.Is(err, errImageType), errors.Is(err, errImageConfirm):
			errs["image"] = Problem{ID: err.Error()}
		case err != nil:
			h.fail(c, err)
			return f, in, "", "", nil, false
		}
		switch {
		case err != nil && h.hasPending(o, kept):
			pending = kept // the image kept from before stays
		case err == nil:
			// The new image replaces one kept from before.
			h.dropPending(o, kept)
			pending = name
		}
	} else if kept != "" {
		if !h.hasPending(o, kept) {
			errs["image"] = Problem{ID: "CauseErrImageGone"}
		} else {
			pending = kept
		}
	}
	if pending != "" && !errs.Any() {
		if err := h.takePending(o, pending); err != nil {
			h.fail(c, err)
			return f, in, "", "", nil, false
		}
		image, pending = pending, ""
	}
	return f, in, image, pending, errs, true
}

// storeUpload stores the signed-in organiser's upload (see saveImage in
// image.go) among their pending images. Each stored image is up to 5 MB on disk, so only an organiser
// who has confirmed their address may upload, and at most ImagesPerDay a
// day (admins, who run the site, without a limit).
func (h *Handler) storeUpload(c *gin.Context, fh *multipart.FileHeader) (string, error) {
	o, _ := CurrentOrganiser(c)
	if !o.EmailConfirmed() {
		return "", errImageConfirm
	}
	if !o.Admin && !h.uploads.take(o.ID, h.store.now()) {
		return "", errImageLimit
	}
	h.sweepPending(o)
	name, err := saveImage(h.pendingDir(o), fh)
	if err != nil && !o.Admin {
		h.uploads.give(o.ID) // nothing was stored
	}
	return name, err
}

// imageProblemMax is the limit an image problem's message names.
func imageProblemMax(err error) int64 {
	if errors.Is(err, errImageLimit) {
		return ImagesPerDay
	}
	return MaxImageBytes >> 20
}

func (h *Handler) createCause(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	f, in, image, pending, errs, ok := h.readCauseForm(c, nil)
	if !ok {
		return
	}
	if errs.Any() {
		h.renderCauseForm(c, http.StatusUnprocessableEntity, causeFormData{Form: f, Errors: errs, Pending: pending})
		return
	}
	cz, err := h.store.CreateCause(c.Request.Context(), o.ID, in, image)
	if err != nil {
		if image != "" {
			removeImage(h.cfg.UploadDir, image)
		}
		h.fail(c, err)
		return
	}
	templates.SetFlash(c, "FlashDraftSaved")
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cz.Slug)
}

func formOf(cz Cause) causeForm {
	f := causeForm{Title: cz.Title, Summary: cz.Summary, Target: cz.Target, Goal: strconv.FormatInt(cz.Goal, 10), Body: cz.BodyMD, ImageAlt: cz.ImageAlt}
	if cz.EndsAt != nil {
		f.EndsAt = cz.EndsAt.Format("2006-01-02")
	}
	return f
}

func (h *Handler) editCause(c *gin.Context) {
	cz, _, ok := h.ownCause(c)
	if !ok {
		return
	}
	h.renderCauseForm(c, http.StatusOK, causeFormData{Form: formOf(cz), Cause: &cz})
}

func (h *Handler) updateCause(c *gin.Context) {
	cz, _, ok := h.ownCause(c)
	if !ok {
		return
	}
	f, in, image, pending, errs, ok := h.readCauseForm(c, &cz)
	if !ok {
		return
	}
	if errs.Any() {
		h.renderCauseForm(c, http.StatusUnprocessableEntity, causeFormData{Form: f, Errors: errs, Cause: &cz, Pending: pending})
		return
	}
	in.Lang = cz.Lang
	updated, replaced, err := h.store.UpdateCause(c.Request.Context(), cz.ID, in, image)
	if err != nil {
		if image != "" {
			removeImage(h.cfg.UploadDir, image)
		}
		h.fail(c, err)
		return
	}
	// The picture it replaced is no cause's any more: its file goes, now
	// that the edit is on disk.
	if replaced != "" {
		removeImage(h.cfg.UploadDir, replaced)
	}
	h.forget(cz.Slug)
	templates.SetFlash(c, "FlashSaved")
	c.Redirect(http.StatusSeeOther, "/campaigns/"+updated.Slug)
}

// statusFlash is the notice after a cause moves from one status to another.
func statusFlash(from, to Status) string {
	switch {
	case to == Published && from == Closed:
		return "FlashReopened"
	case to == Published:
		return "FlashPublished"
	case to == Victory:
		return "FlashVictory"
	default:
		return "FlashClosed"
	}
}

func (h *Handler) setStatus(c *gin.Context) {
	cz, o, ok := h.ownCause(c)
	if !ok {
		return
	}
	to := Status(c.PostForm("status"))
	if to == Published && !o.EmailConfirmed() {
		h.renderOverview(c, http.StatusConflict, cz, o, "DashErrConfirmFirst")
		return
	}
	updated, err := h.store.SetStatus(c.Request.Context(), cz.ID, to)
	if errors.Is(err, ErrTransition) {
		h.renderOverview(c, http.StatusConflict, cz, o, "DashErrTransition")
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.forget(cz.Slug)
	templates.SetFlash(c, statusFlash(cz.Status, updated.Status))
	c.Redirect(http.StatusSeeOther, "/campaigns/"+updated.Slug)
}
