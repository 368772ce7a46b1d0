package notify

// Writing a blast: the compose form, a draft saved and edited.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

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
	f.TrackOpens = templates.Ticked(c.PostForm("track_opens"))
	return f
}

func (f blastForm) input() BlastInput {
	return BlastInput(f)
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
	templates.SetFlash(c, "FlashBlastSaved")
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
		s.renderBlast(c, http.StatusConflict, cz, b, o, s.t(c, "BlastErrNotDraft"))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	templates.SetFlash(c, "FlashSaved")
	c.Redirect(http.StatusSeeOther, blastPath(cz, b.ID))
}

// Draft saves a draft blast of the cause with slug, by organiserID, checked
// as the compose form checks it, for another feature to hand to the
// organiser (a cause's update to mail): the blast's page then shows its
// preview, its audience and the confirmation before anything is sent. It
// returns the blast's id, or what is wrong with in.
func (s *Blasts) Draft(ctx context.Context, slug string, organiserID int64, in BlastInput) (int64, FieldErrors, error) {
	if errs := in.Validate(); len(errs) > 0 {
		return 0, errs, nil
	}
	cz, err := s.aud.Cause(ctx, slug)
	if err != nil {
		return 0, nil, fmt.Errorf("draft blast: %w", err)
	}
	id, err := s.createBlast(ctx, cz, organiserID, in)
	return id, nil, err
}

// Statuses returns the status of each of a cause's blasts, by id.
func (s *Blasts) Statuses(ctx context.Context, causeID int64) (map[int64]string, error) {
	bs, err := s.listBlasts(ctx, causeID)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(bs))
	for _, b := range bs {
		out[b.ID] = b.Status
	}
	return out, nil
}
