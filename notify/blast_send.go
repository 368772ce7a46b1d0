package notify

// Sending a blast: now or later, a test to the organiser, pause, resume,
// cancel and retry.

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

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
		s.renderBlast(c, status, cz, b, o, s.t(c, problem), typedAt, typedTZ)
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
		// The organiser's zone, the one they last scheduled in, else UTC.
		zone, err := s.organiserZone(ctx, o.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		tz = cmp.Or(zone, "UTC")
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
			s.renderBlast(c, http.StatusUnprocessableEntity, cz, b, o, problem, typedAt, typedTZ)
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
	if at != nil {
		templates.SetFlash(c, "FlashBlastScheduled")
	} else {
		templates.SetFlash(c, "FlashBlastSending")
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
		s.renderBlast(c, http.StatusForbidden, cz, b, o, s.t(c, "BlastErrConfirmFirst"))
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
	templates.SetFlash(c, "FlashBlastTest")
	c.Redirect(http.StatusSeeOther, blastPath(cz, b.ID))
}

// action runs a pause, resume, cancel or retry, then goes back to the
// blast's page with the notice flash; one its status does not allow
// answers 409 with the page.
func (s *Blasts) action(flash string, do func(context.Context, int64) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		cz, b, o, ok := s.ownBlast(c)
		if !ok {
			return
		}
		err := do(c.Request.Context(), b.ID)
		if errors.Is(err, errWrongStatus) {
			s.renderBlast(c, http.StatusConflict, cz, b, o, s.t(c, "BlastErrStatus"))
			return
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		templates.SetFlash(c, flash)
		c.Redirect(http.StatusSeeOther, blastPath(cz, b.ID))
	}
}
