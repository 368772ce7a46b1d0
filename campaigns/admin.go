package campaigns

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// AdminRoutes mounts the admins' moderation pages: the overview (reports,
// held signatures, unusual activity, the log) and each cause's page, with
// their actions. The caller mounts them under /admin behind RequireAdmin
// and the cross-origin check. Every action is logged (see moderation_log)
// and answers 303 back to its page, or the page again with 422 and what
// is wrong with the form.
func (h *Handler) AdminRoutes(r gin.IRoutes) {
	r.GET("", h.adminHome)
	r.POST("/reports/dismiss", h.adminDismissReport)
	r.GET("/causes/:slug", h.adminCause)
	r.POST("/causes/:slug/hide", h.adminHide)
	r.POST("/causes/:slug/show", h.adminShow)
	r.POST("/causes/:slug/comments/hide", h.adminComment(true))
	r.POST("/causes/:slug/comments/show", h.adminComment(false))
	r.POST("/causes/:slug/invalidate", h.adminInvalidate)
	r.POST("/causes/:slug/undo", h.adminUndo)
	r.POST("/causes/:slug/release", h.adminRelease)
}

// activityView is a burst of signings with its cause.
type activityView struct {
	Activity
	Cause Cause
}

type adminHomeData struct {
	Reports  []Report
	Held     []HeldCause
	Activity []activityView
	Log      []LogEntry
	Since    time.Time
}

// lastHour is the window of the unusual-activity views.
const lastHour = time.Hour

func (h *Handler) adminHome(c *gin.Context) {
	ctx := c.Request.Context()
	now := h.store.now()
	d := adminHomeData{Since: now.Add(-lastHour)}
	var err error
	if d.Reports, err = h.store.Reports(ctx, 0, false, 100); err != nil {
		h.fail(c, err)
		return
	}
	if d.Held, err = h.store.CausesWithHeld(ctx); err != nil {
		h.fail(c, err)
		return
	}
	acts, err := h.store.Suspicious(ctx, 0, d.Since, 50)
	if err != nil {
		h.fail(c, err)
		return
	}
	causes := map[int64]Cause{}
	for _, a := range acts {
		cz, ok := causes[a.CauseID]
		if !ok {
			if cz, err = h.store.FindCauseByID(ctx, a.CauseID); err != nil {
				h.fail(c, err)
				return
			}
			causes[a.CauseID] = cz
		}
		d.Activity = append(d.Activity, activityView{Activity: a, Cause: cz})
	}
	if d.Log, err = h.store.ModerationLog(ctx, 0, 50); err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	h.rdr.HTML(c, http.StatusOK, "campaigns/admin.html", &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "AdminTitle"),
		NoIndex: true, Wide: true, Data: d})
}

// invalidateForm is the bulk invalidation form as typed; times are UTC,
// as datetime-local inputs send them (YYYY-MM-DDTHH:MM).
type invalidateForm struct {
	Network string `form:"network"`
	Domain  string `form:"domain"`
	Since   string `form:"since"`
	Until   string `form:"until"`
	Reason  string `form:"reason"`
}

// hideForm is the form that hides a cause.
type hideForm struct {
	Reason string `form:"reason"`
}

type adminCauseData struct {
	Cause         Cause
	Stats         CauseStats
	Held          []HeldGroup
	HeldTotal     int64
	Activity      []Activity
	Invalidations []Invalidation
	Comments      []Comment
	Reports       []Report
	Log           []LogEntry
	Since         time.Time
	Form          invalidateForm
	Errors        FormErrors
	Hide          hideForm
	HideErrors    FormErrors
	// TimeFormat is how the form's times are written.
	TimeFormat string
}

// adminCauseFor loads the cause in the URL for an admin page; 404 when
// there is none.
func (h *Handler) adminCauseFor(c *gin.Context) (Cause, Organiser, bool) {
	o, _ := CurrentOrganiser(c)
	cz, err := h.store.FindCauseBySlug(c.Request.Context(), c.Param("slug"))
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, o, false
	}
	if err != nil {
		h.fail(c, err)
		return Cause{}, o, false
	}
	return cz, o, true
}

func (h *Handler) adminCause(c *gin.Context) {
	cz, _, ok := h.adminCauseFor(c)
	if !ok {
		return
	}
	h.renderAdminCause(c, http.StatusOK, cz, adminCauseData{})
}

func (h *Handler) renderAdminCause(c *gin.Context, status int, cz Cause, d adminCauseData) {
	ctx := c.Request.Context()
	now := h.store.now()
	d.Cause, d.Since, d.TimeFormat = cz, now.Add(-lastHour), adminTimeFormat
	var err error
	if d.Stats, err = h.store.Stats(ctx, cz.ID); err != nil {
		h.fail(c, err)
		return
	}
	if d.Held, d.HeldTotal, err = h.store.HeldSignatures(ctx, cz.ID, 50); err != nil {
		h.fail(c, err)
		return
	}
	if d.Activity, err = h.store.Suspicious(ctx, cz.ID, d.Since, 30); err != nil {
		h.fail(c, err)
		return
	}
	if d.Invalidations, err = h.store.Invalidations(ctx, cz.ID); err != nil {
		h.fail(c, err)
		return
	}
	if d.Comments, err = h.store.PublicComments(ctx, cz.ID, 0, 50); err != nil {
		h.fail(c, err)
		return
	}
	if d.Reports, err = h.store.Reports(ctx, cz.ID, true, 50); err != nil {
		h.fail(c, err)
		return
	}
	if d.Log, err = h.store.ModerationLog(ctx, cz.ID, 50); err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	h.rdr.HTML(c, status, "campaigns/admin_cause.html", &templates.Page{Title: cz.Title, NoIndex: true, Wide: true, Data: d})
}

// adminTimeFormat is the format of the invalidation form's times.
const adminTimeFormat = "2006-01-02T15:04"

// backToCause answers an admin's action on a cause: a notice, and 303 to
// the cause's admin page.
func backToCause(c *gin.Context, cz Cause, flash string) {
	templates.SetFlash(c, flash)
	c.Redirect(http.StatusSeeOther, "/admin/causes/"+cz.Slug)
}

func (h *Handler) adminHide(c *gin.Context) {
	var f hideForm
	if !bindAccountForm(c, &f) {
		return
	}
	cz, o, ok := h.adminCauseFor(c)
	if !ok {
		return
	}
	errs := FormErrors{}
	f.Reason = strings.TrimSpace(f.Reason)
	checkMultiline(errs, "hide_reason", f.Reason, MaxModerationReason)
	if f.Reason == "" {
		errs["hide_reason"] = Problem{ID: "FormErrRequired"}
	}
	if errs.Any() {
		f.Reason = keepTyped(f.Reason)
		h.renderAdminCause(c, http.StatusUnprocessableEntity, cz, adminCauseData{Hide: f, HideErrors: errs})
		return
	}
	if err := h.store.HideCause(c.Request.Context(), o, cz.ID, f.Reason); err != nil {
		h.fail(c, err)
		return
	}
	h.forget(cz.Slug)
	backToCause(c, cz, "FlashCauseHidden")
}

func (h *Handler) adminShow(c *gin.Context) {
	cz, o, ok := h.adminCauseFor(c)
	if !ok {
		return
	}
	err := h.store.ShowCause(c.Request.Context(), o, cz.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		h.fail(c, err)
		return
	}
	h.forget(cz.Slug)
	backToCause(c, cz, "FlashCauseShown")
}

func (h *Handler) adminComment(hidden bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		cz, o, ok := h.adminCauseFor(c)
		if !ok {
			return
		}
		id, _ := strconv.ParseInt(c.PostForm("signature"), 10, 64)
		err := h.store.HideReason(c.Request.Context(), o, cz.ID, id, hidden)
		switch {
		case errors.Is(err, ErrNotFound):
			backToCause(c, cz, "FlashNothingDone")
			return
		case err != nil:
			h.fail(c, err)
			return
		}
		flash := "FlashCommentShown"
		if hidden {
			flash = "FlashCommentHidden"
		}
		backToCause(c, cz, flash)
	}
}

// input reads the invalidation form into what Invalidate takes.
func (f invalidateForm) input() (InvalidationInput, FormErrors) {
	in := InvalidationInput{Network: f.Network, Domain: f.Domain, Reason: f.Reason}
	errs := FormErrors{}
	for _, t := range []struct {
		field, value string
		dst          **time.Time
	}{{"since", f.Since, &in.Since}, {"until", f.Until, &in.Until}} {
		v := strings.TrimSpace(t.value)
		if v == "" {
			continue
		}
		at, err := time.Parse(adminTimeFormat, v)
		if err != nil {
			if at, err = time.Parse(adminTimeFormat+":05", v); err != nil {
				errs[t.field] = Problem{ID: "AdminErrTime"}
				continue
			}
		}
		at = at.UTC()
		*t.dst = &at
	}
	for k, v := range in.Validate() {
		if _, ok := errs[k]; !ok {
			errs[k] = v
		}
	}
	return in, errs
}

func (h *Handler) adminInvalidate(c *gin.Context) {
	var f invalidateForm
	if !bindAccountForm(c, &f) {
		return
	}
	cz, o, ok := h.adminCauseFor(c)
	if !ok {
		return
	}
	in, errs := f.input()
	if errs.Any() {
		f = invalidateForm{Network: keepTyped(f.Network), Domain: keepTyped(f.Domain), Since: keepTyped(f.Since),
			Until: keepTyped(f.Until), Reason: keepTyped(f.Reason)}
		h.renderAdminCause(c, http.StatusUnprocessableEntity, cz, adminCauseData{Form: f, Errors: errs})
		return
	}
	if _, err := h.store.Invalidate(c.Request.Context(), o, cz.ID, in); err != nil {
		h.fail(c, err)
		return
	}
	h.forget(cz.Slug)
	backToCause(c, cz, "FlashInvalidated")
}

func (h *Handler) adminUndo(c *gin.Context) {
	cz, o, ok := h.adminCauseFor(c)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(c.PostForm("invalidation"), 10, 64)
	_, err := h.store.UndoInvalidation(c.Request.Context(), o, cz.ID, id)
	switch {
	case errors.Is(err, ErrNotFound) || errors.Is(err, ErrUndone):
		backToCause(c, cz, "FlashNothingDone")
		return
	case err != nil:
		h.fail(c, err)
		return
	}
	h.forget(cz.Slug)
	backToCause(c, cz, "FlashUndone")
}

func (h *Handler) adminRelease(c *gin.Context) {
	cz, o, ok := h.adminCauseFor(c)
	if !ok {
		return
	}
	network, domain := strings.TrimSpace(c.PostForm("network")), strings.ToLower(strings.TrimSpace(c.PostForm("domain")))
	trust := templates.Ticked(c.PostForm("trust")) && (network != "" || domain != "")
	n, err := h.store.Release(c.Request.Context(), o, cz.ID, network, domain, trust)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.forget(cz.Slug)
	if n == 0 && !trust {
		backToCause(c, cz, "FlashNothingDone")
		return
	}
	backToCause(c, cz, "FlashReleased")
}

func (h *Handler) adminDismissReport(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	id, _ := strconv.ParseInt(c.PostForm("report"), 10, 64)
	err := h.store.DismissReport(c.Request.Context(), o, id)
	switch {
	case errors.Is(err, ErrNotFound):
		templates.SetFlash(c, "FlashNothingDone")
	case err != nil:
		h.fail(c, err)
		return
	default:
		templates.SetFlash(c, "FlashReportDismissed")
	}
	c.Redirect(http.StatusSeeOther, "/admin")
}

// sortActivity puts the largest bursts first.
func sortActivity(a []Activity) {
	sort.SliceStable(a, func(i, j int) bool { return a[i].Count > a[j].Count })
}
