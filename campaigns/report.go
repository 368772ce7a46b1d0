package campaigns

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// reportForm is "report this cause" as typed.
type reportForm struct {
	Reason string `form:"reason"`
	Email  string `form:"email"`
}

// reportData is the report page: its form, and once sent, the thanks.
type reportData struct {
	Cause  Cause
	Form   reportForm
	Errors FormErrors
	Max    int
}

// publicCause loads the cause in the URL if the public may see it, and
// answers 404 otherwise.
func (h *Handler) publicCause(c *gin.Context) (Cause, bool) {
	cz, err := h.causes.get(c.Request.Context(), h.store, c.Param("slug"))
	if errors.Is(err, ErrNotFound) || (err == nil && !cz.Public()) {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, false
	}
	if err != nil {
		h.fail(c, err)
		return Cause{}, false
	}
	return cz, true
}

// reportPage is the form the cause page's "report this cause" opens; it is
// also where a report with errors comes back.
func (h *Handler) reportPage(c *gin.Context) {
	cz, ok := h.publicCause(c)
	if !ok {
		return
	}
	h.renderReport(c, http.StatusOK, reportData{Cause: cz})
}

func (h *Handler) renderReport(c *gin.Context, status int, d reportData) {
	c.Header("Cache-Control", "private, no-store")
	d.Max = MaxReportReason
	h.rdr.HTML(c, status, "campaigns/report.html", &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "ReportTitle"),
		NoIndex: true, Data: d})
}

// report records a report for the admins' queue and thanks its sender.
func (h *Handler) report(c *gin.Context) {
	var f reportForm
	if !bindAccountForm(c, &f) {
		return
	}
	cz, ok := h.publicCause(c)
	if !ok {
		return
	}
	in := ReportInput{Reason: f.Reason, Email: f.Email, Lang: templates.LangOf(c)}
	if errs := in.Validate(); errs.Any() {
		f.Reason, f.Email = keepTyped(f.Reason), keepTyped(f.Email)
		h.renderReport(c, http.StatusUnprocessableEntity, reportData{Cause: cz, Form: f, Errors: errs})
		return
	}
	if err := h.store.CreateReport(c.Request.Context(), cz.ID, in); err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	h.rdr.HTML(c, http.StatusOK, "campaigns/reported.html", &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "ReportedTitle"),
		NoIndex: true, Data: reportData{Cause: cz}})
}
