package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// Update is news an organiser posts on a cause's page.
type Update struct {
	ID       int64
	CauseID  int64
	AuthorID int64
	Title    string
	BodyMD   string
	// EmailAsked records that its author asked for it to be mailed to the
	// cause's supporters who want updates. Nothing sends it yet: that is
	// for the mailing of blasts to take up.
	EmailAsked bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Anchor is the update's fragment on its cause's page.
func (u Update) Anchor() string { return "update-" + strconv.FormatInt(u.ID, 10) }

// Field limits for updates and the victory message.
const (
	MaxUpdateTitle    = 120
	MaxUpdateBody     = 20000
	MaxVictoryMessage = 2000
)

// UpdateInput is what an organiser types into the update form.
type UpdateInput struct {
	Title      string
	BodyMD     string
	EmailAsked bool
}

// Validate checks the input, returning one error per field.
func (in UpdateInput) Validate() FormErrors {
	errs := FormErrors{}
	checkText(errs, "title", in.Title, 1, MaxUpdateTitle)
	checkMultiline(errs, "body", in.BodyMD, MaxUpdateBody)
	if _, bad := errs["body"]; !bad && strings.TrimSpace(in.BodyMD) == "" {
		errs["body"] = Problem{ID: "FormErrRequired"}
	}
	return errs
}

const updateColumns = `id, cause_id, author_id, title, body_md, email_asked, created_at, updated_at`

func scanUpdate(row scanner) (Update, error) {
	var u Update
	err := row.Scan(&u.ID, &u.CauseID, &u.AuthorID, &u.Title, &u.BodyMD, &u.EmailAsked, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Update{}, ErrNotFound
	}
	return u, err
}

// ListUpdates returns a cause's updates, newest first.
func (s *Store) ListUpdates(ctx context.Context, causeID int64, limit int) ([]Update, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+updateColumns+` FROM cause_updates
		WHERE cause_id = ? ORDER BY id DESC LIMIT ?`, causeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list updates: %w", err)
	}
	defer rows.Close()
	var out []Update
	for rows.Next() {
		u, err := scanUpdate(rows)
		if err != nil {
			return nil, fmt.Errorf("list updates: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// FindUpdate returns the update with the given id if it belongs to the
// cause; any other is not found.
func (s *Store) FindUpdate(ctx context.Context, causeID, id int64) (Update, error) {
	u, err := scanUpdate(s.r.QueryRowContext(ctx, `SELECT `+updateColumns+` FROM cause_updates
		WHERE id = ? AND cause_id = ?`, id, causeID))
	if err != nil {
		return Update{}, fmt.Errorf("find update %d: %w", id, err)
	}
	return u, nil
}

// CreateUpdate posts an update on a cause.
func (s *Store) CreateUpdate(ctx context.Context, causeID, authorID int64, in UpdateInput) (Update, error) {
	now := s.now()
	u, err := scanUpdate(s.w.QueryRowContext(ctx, `INSERT INTO cause_updates
		(cause_id, author_id, title, body_md, email_asked, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		RETURNING `+updateColumns, causeID, authorID, in.Title, in.BodyMD, in.EmailAsked, now, now))
	if err != nil {
		return Update{}, fmt.Errorf("create update: %w", err)
	}
	s.changed(Change{CauseID: causeID})
	return u, nil
}

// EditUpdate saves an edit of a cause's update. Whether it was asked to be
// mailed stays as it was posted.
func (s *Store) EditUpdate(ctx context.Context, causeID, id int64, in UpdateInput) (Update, error) {
	u, err := scanUpdate(s.w.QueryRowContext(ctx, `UPDATE cause_updates SET title = ?, body_md = ?, updated_at = ?
		WHERE id = ? AND cause_id = ? RETURNING `+updateColumns, in.Title, in.BodyMD, s.now(), id, causeID))
	if err != nil {
		return Update{}, fmt.Errorf("edit update %d: %w", id, err)
	}
	s.changed(Change{CauseID: causeID})
	return u, nil
}

// DeleteUpdate deletes a cause's update.
func (s *Store) DeleteUpdate(ctx context.Context, causeID, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM cause_updates WHERE id = ? AND cause_id = ?`, id, causeID)
	if err != nil {
		return fmt.Errorf("delete update %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("delete update %d: %w", id, ErrNotFound)
	}
	s.changed(Change{CauseID: causeID})
	return nil
}

// DeclareVictory marks a published or closed cause won, or changes the
// words of one already won, with the organiser's message for its banner.
func (s *Store) DeclareVictory(ctx context.Context, id int64, message string) (Cause, error) {
	now := s.now()
	c, err := scanCause(s.w.QueryRowContext(ctx, `UPDATE causes SET status = 'victory', victory_message = ?,
		closed_at = coalesce(closed_at, ?), updated_at = ?
		WHERE id = ? AND status IN ('published', 'closed', 'victory') RETURNING `+causeColumns, message, now, now, id))
	if errors.Is(err, ErrNotFound) {
		return Cause{}, ErrTransition
	}
	if err != nil {
		return Cause{}, fmt.Errorf("declare victory: %w", err)
	}
	s.changed(Change{CauseID: c.ID})
	return c, nil
}

// updateView is an update as a page shows it.
type updateView struct {
	Update
	HTML template.HTML
}

// viewUpdates renders the updates' bodies, each once for as long as its
// Markdown stays the same: a busy cause's page is rendered many times a
// minute.
func (h *Handler) viewUpdates(us []Update) []updateView {
	out := make([]updateView, len(us))
	for i, u := range us {
		out[i] = updateView{Update: u, HTML: h.updates.render(u.ID, u.BodyMD)}
	}
	return out
}

// updateForm is the update form as typed.
type updateForm struct {
	Title string `form:"title"`
	Body  string `form:"body"`
	Email string `form:"email"`
}

func (f updateForm) input() UpdateInput {
	return UpdateInput{Title: strings.TrimSpace(f.Title), BodyMD: f.Body, EmailAsked: templates.Ticked(f.Email)}
}

type updatesPageData struct {
	Cause   Cause
	Updates []updateView
	Form    updateForm
	Errors  FormErrors
	// Editing is the update being edited, nil on the list page.
	Editing *Update
	Victory victoryForm
	VErrors FormErrors
}

type victoryForm struct {
	Message string `form:"victory_message"`
}

// maxUpdatesShown bounds the updates the organiser's page lists, and
// maxUpdatesOnCause those of the cause page (the feed holds more).
const (
	maxUpdatesShown   = 100
	maxUpdatesOnCause = 20
)

func (h *Handler) updatesPage(c *gin.Context) {
	cz, _, ok := h.ownCause(c)
	if !ok {
		return
	}
	h.renderUpdates(c, http.StatusOK, cz, updatesPageData{Victory: victoryForm{Message: cz.VictoryMessage}})
}

func (h *Handler) renderUpdates(c *gin.Context, status int, cz Cause, d updatesPageData) {
	us, err := h.store.ListUpdates(c.Request.Context(), cz.ID, maxUpdatesShown)
	if err != nil {
		h.fail(c, err)
		return
	}
	d.Cause, d.Updates = cz, h.viewUpdates(us)
	c.Header("Cache-Control", "private, no-store")
	lang := templates.LangOf(c)
	title := h.rdr.Catalogue.T(lang, "UpdatesTitle")
	if d.Editing != nil {
		title = h.rdr.Catalogue.T(lang, "UpdateEditTitle")
		h.rdr.HTML(c, status, "campaigns/update_edit.html", &templates.Page{Title: title, NoIndex: true, Data: d})
		return
	}
	h.rdr.HTML(c, status, "campaigns/updates.html", &templates.Page{Title: title + " · " + cz.Title, NoIndex: true, Data: d})
}

func (h *Handler) createUpdate(c *gin.Context) {
	cz, o, ok := h.ownCause(c)
	if !ok {
		return
	}
	var f updateForm
	if err := c.ShouldBind(&f); err != nil {
		h.badForm(c, err)
		return
	}
	in := f.input()
	if errs := in.Validate(); errs.Any() {
		h.renderUpdates(c, http.StatusUnprocessableEntity, cz, updatesPageData{Form: f, Errors: errs,
			Victory: victoryForm{Message: cz.VictoryMessage}})
		return
	}
	u, err := h.store.CreateUpdate(c.Request.Context(), cz.ID, o.ID, in)
	if err != nil {
		h.fail(c, err)
		return
	}
	templates.SetFlash(c, "FlashUpdatePosted")
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cz.Slug+"/updates#"+u.Anchor())
}

// ownUpdate loads the update in the URL if it belongs to a cause the
// signed-in organiser may manage; otherwise it answers 404.
func (h *Handler) ownUpdate(c *gin.Context) (Cause, Update, bool) {
	cz, _, ok := h.ownCause(c)
	if !ok {
		return Cause{}, Update{}, false
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, Update{}, false
	}
	u, err := h.store.FindUpdate(c.Request.Context(), cz.ID, id)
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return Cause{}, Update{}, false
	}
	if err != nil {
		h.fail(c, err)
		return Cause{}, Update{}, false
	}
	return cz, u, true
}

func (h *Handler) editUpdatePage(c *gin.Context) {
	cz, u, ok := h.ownUpdate(c)
	if !ok {
		return
	}
	h.renderUpdates(c, http.StatusOK, cz, updatesPageData{Editing: &u, Form: updateForm{Title: u.Title, Body: u.BodyMD}})
}

func (h *Handler) editUpdate(c *gin.Context) {
	cz, u, ok := h.ownUpdate(c)
	if !ok {
		return
	}
	var f updateForm
	if err := c.ShouldBind(&f); err != nil {
		h.badForm(c, err)
		return
	}
	in := f.input()
	if errs := in.Validate(); errs.Any() {
		h.renderUpdates(c, http.StatusUnprocessableEntity, cz, updatesPageData{Editing: &u, Form: f, Errors: errs})
		return
	}
	if _, err := h.store.EditUpdate(c.Request.Context(), cz.ID, u.ID, in); err != nil {
		h.fail(c, err)
		return
	}
	templates.SetFlash(c, "FlashSaved")
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cz.Slug+"/updates#"+u.Anchor())
}

func (h *Handler) deleteUpdate(c *gin.Context) {
	cz, u, ok := h.ownUpdate(c)
	if !ok {
		return
	}
	err := h.store.DeleteUpdate(c.Request.Context(), cz.ID, u.ID)
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	templates.SetFlash(c, "FlashUpdateDeleted")
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cz.Slug+"/updates")
}

// declareVictory declares the cause won with the organiser's words, or
// changes the words of a cause already won.
func (h *Handler) declareVictory(c *gin.Context) {
	cz, o, ok := h.ownCause(c)
	if !ok {
		return
	}
	var f victoryForm
	if err := c.ShouldBind(&f); err != nil {
		h.badForm(c, err)
		return
	}
	errs := FormErrors{}
	checkMultiline(errs, "victory_message", f.Message, MaxVictoryMessage)
	if errs.Any() {
		h.renderUpdates(c, http.StatusUnprocessableEntity, cz, updatesPageData{Victory: f, VErrors: errs})
		return
	}
	updated, err := h.store.DeclareVictory(c.Request.Context(), cz.ID, strings.TrimSpace(f.Message))
	if errors.Is(err, ErrTransition) {
		h.renderOverview(c, http.StatusConflict, cz, o, "DashErrTransition")
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if cz.Status == Victory {
		templates.SetFlash(c, "FlashSaved")
	} else {
		templates.SetFlash(c, statusFlash(cz.Status, updated.Status))
	}
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cz.Slug)
}
