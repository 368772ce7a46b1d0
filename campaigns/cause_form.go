package campaigns

import (
	"errors"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

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
	switch to {
	case Draft, Published, Closed, Victory:
	default:
		// Not a status at all: bad input, unlike a real status the cause
		// cannot move to now (409 below).
		h.renderOverview(c, http.StatusUnprocessableEntity, cz, o, "DashErrTransition")
		return
	}
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
