package notify

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// unsubData is what the unsubscribe pages show.
type unsubData struct {
	Token      string
	CauseTitle string
	CauseURL   string
	Test       bool   // the link came from a test mail or the preview
	Done       string // after a post: "cause" or "all"
}

// unsubTarget finds what an unsubscribe token names: its blast and the
// hash of the delivery's address ("" for a test mail's link). ok is false
// (and the answer sent) when there is nothing.
func (s *Blasts) unsubTarget(c *gin.Context) (Blast, string, bool) {
	l, ok := s.tokens.parse(unsubToken, c.Param("token"))
	if !ok {
		c.AbortWithStatus(http.StatusNotFound)
		return Blast{}, "", false
	}
	ctx := c.Request.Context()
	b, err := s.blast(ctx, l.blast)
	if err != nil {
		s.fail(c, err)
		return b, "", false
	}
	if l.delivery == 0 {
		return b, "", true
	}
	hash, err := s.deliveryKeyHash(ctx, l.blast, l.delivery)
	if err != nil {
		s.fail(c, err)
		return b, "", false
	}
	return b, hash, true
}

// unsubscribePage answers GET /u/{token}: a page that offers to stop this
// cause's emails or every campaign email, and a way back to the cause. The
// GET changes nothing (mail scanners open links).
func (s *Blasts) unsubscribePage(c *gin.Context) {
	b, hash, ok := s.unsubTarget(c)
	if !ok {
		return
	}
	s.renderUnsub(c, http.StatusOK, unsubData{Token: c.Param("token"), CauseTitle: b.CauseTitle, CauseURL: b.CauseURL, Test: hash == ""})
}

func (s *Blasts) renderUnsub(c *gin.Context, status int, d unsubData) {
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	title := s.t(c, "UnsubTitle")
	if d.Done != "" {
		title = s.t(c, "UnsubDoneTitle")
	}
	s.rdr.HTML(c, status, "notify/unsubscribe.html", &templates.Page{Title: title, NoIndex: true, Data: d})
}

// unsubscribe answers POST /u/{token}. The one-click form mail programs
// send (RFC 8058: List-Unsubscribe=One-Click, no cookie, no login) stops
// this cause's emails; the page's form may ask for every campaign email
// (scope=all). Either way it answers 200 and holds at once.
func (s *Blasts) unsubscribe(c *gin.Context) {
	b, hash, ok := s.unsubTarget(c)
	if !ok {
		return
	}
	cause, scope := b.CauseID, "cause"
	if c.PostForm("List-Unsubscribe") != "One-Click" && c.PostForm("scope") == "all" {
		cause, scope = AllCauses, "all"
	}
	if hash != "" {
		if err := s.suppressFrom(c.Request.Context(), hash, cause, b.ID); err != nil {
			s.fail(c, err)
			return
		}
	}
	s.renderUnsub(c, http.StatusOK, unsubData{Token: c.Param("token"), CauseTitle: b.CauseTitle, CauseURL: b.CauseURL,
		Test: hash == "", Done: scope})
}

// suppressFrom suppresses an address for a cause (or all) through the
// link of a blast, and forgets the audience counts that included it.
func (s *Blasts) suppressFrom(ctx context.Context, hash string, causeID, blastID int64) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := suppress(ctx, tx, hash, causeID, SuppressUnsubscribe, blastID, s.now()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	s.mu.Lock()
	clear(s.sizes)
	s.mu.Unlock()
	return nil
}
