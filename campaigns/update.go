package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
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
	// cause's supporters who want updates.
	EmailAsked bool
	// BlastID is the blast its email became (a draft until the organiser
	// sends it from the blast's page), 0 for none.
	BlastID   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Anchor is the update's fragment on its cause's page.
func (u Update) Anchor() string { return "update-" + strconv.FormatInt(u.ID, 10) }

// UpdateMail turns an update into an email to the cause's supporters who
// asked for updates: a draft blast, which the organiser checks and sends
// from its page. *notify.Blasts is one.
type UpdateMail interface {
	// Draft saves a draft blast of the cause with slug, by organiserID,
	// and returns its id, or what is wrong with in.
	Draft(ctx context.Context, slug string, organiserID int64, in notify.BlastInput) (int64, notify.FieldErrors, error)
	// Statuses returns the status of each of a cause's blasts, by id.
	Statuses(ctx context.Context, causeID int64) (map[int64]string, error)
}

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

const updateColumns = `id, cause_id, author_id, title, body_md, email_asked, blast_id, created_at, updated_at`

func scanUpdate(row scanner) (Update, error) {
	var u Update
	var blast sql.NullInt64
	err := row.Scan(&u.ID, &u.CauseID, &u.AuthorID, &u.Title, &u.BodyMD, &u.EmailAsked, &blast, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Update{}, ErrNotFound
	}
	u.BlastID = blast.Int64
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

// EditUpdate saves an edit of a cause's update. An update once asked to be
// mailed stays so.
func (s *Store) EditUpdate(ctx context.Context, causeID, id int64, in UpdateInput) (Update, error) {
	u, err := scanUpdate(s.w.QueryRowContext(ctx, `UPDATE cause_updates SET title = ?, body_md = ?,
		email_asked = (email_asked OR ?), updated_at = ?
		WHERE id = ? AND cause_id = ? RETURNING `+updateColumns, in.Title, in.BodyMD, in.EmailAsked, s.now(), id, causeID))
	if err != nil {
		return Update{}, fmt.Errorf("edit update %d: %w", id, err)
	}
	s.changed(Change{CauseID: causeID})
	return u, nil
}

// SetUpdateBlast records the blast a cause's update was mailed as, unless
// it already has one.
func (s *Store) SetUpdateBlast(ctx context.Context, causeID, id, blastID int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE cause_updates SET blast_id = ?, email_asked = 1
		WHERE id = ? AND cause_id = ? AND blast_id IS NULL`, blastID, id, causeID)
	if err != nil {
		return fmt.Errorf("set update %d blast: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("set update %d blast: %w", id, ErrNotFound)
	}
	return nil
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
	// Its email's blast, on the organiser's pages: its status and page.
	BlastStatus string
	BlastPath   string
}

// BlastStatusLabel is the catalogue's name of the email's status, as
// blasts' own pages say it.
func (v updateView) BlastStatusLabel() string {
	if v.BlastStatus == "" {
		return ""
	}
	return "BlastStatus" + strings.ToUpper(v.BlastStatus[:1]) + v.BlastStatus[1:]
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
	// Editing is the update being edited, nil on the list page, and
	// EditingMail its email, if it has one.
	Editing     *Update
	EditingMail updateView
	// CanEmail says whether ticking the email box prepares an email: the
	// organiser's address must be confirmed.
	CanEmail bool
	Victory  victoryForm
	VErrors  FormErrors
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
	ctx := c.Request.Context()
	us, err := h.store.ListUpdates(ctx, cz.ID, maxUpdatesShown)
	if err != nil {
		h.fail(c, err)
		return
	}
	d.Cause, d.Updates = cz, h.viewUpdates(us)
	o, _ := CurrentOrganiser(c)
	d.CanEmail = o.EmailConfirmed() || o.Admin
	if h.cfg.UpdateMail != nil {
		statuses, err := h.cfg.UpdateMail.Statuses(ctx, cz.ID)
		if err != nil {
			h.fail(c, err)
			return
		}
		mail := func(v *updateView) {
			if st, ok := statuses[v.BlastID]; ok && v.BlastID != 0 {
				v.BlastStatus, v.BlastPath = st, notify.BlastPath(cz.Slug, v.BlastID)
			}
		}
		for i := range d.Updates {
			mail(&d.Updates[i])
		}
		if d.Editing != nil {
			d.EditingMail = updateView{Update: *d.Editing}
			mail(&d.EditingMail)
		}
	}
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
	h.updateDone(c, cz, o, u, in.EmailAsked, "FlashUpdatePosted", "FlashUpdateEmailReady")
}

// updateDone answers a posted or edited update: with the page of its
// email's draft when the organiser asked to mail it and the draft could be
// made, with the updates page otherwise, saying why no email was prepared.
func (h *Handler) updateDone(c *gin.Context, cz Cause, o Organiser, u Update, email bool, done, ready string) {
	if email {
		path, flash := h.mailUpdate(c, cz, o, u)
		if path != "" {
			templates.SetFlash(c, ready)
			c.Redirect(http.StatusSeeOther, path)
			return
		}
		if flash != "" {
			done = flash
		}
	}
	templates.SetFlash(c, done)
	c.Redirect(http.StatusSeeOther, "/campaigns/"+cz.Slug+"/updates#"+u.Anchor())
}

// mailUpdate makes the email of an update its organiser asked to mail: a
// draft blast to the cause's supporters who want updates, with the update's
// title, its text and a call to action that leads to it on the cause's
// page. Nothing is sent: the organiser checks and sends it from the
// blast's page, whose address it returns. Without a new draft it returns
// "" and the notice that says why, if the organiser should hear it (an
// update that has its email already needs no notice).
func (h *Handler) mailUpdate(c *gin.Context, cz Cause, o Organiser, u Update) (path, flash string) {
	if h.cfg.UpdateMail == nil {
		return "", ""
	}
	if !o.EmailConfirmed() && !o.Admin {
		return "", "FlashUpdateNotEmailedUnconfirmed"
	}
	ctx := c.Request.Context()
	h.updateMail.Lock()
	defer h.updateMail.Unlock()
	u, err := h.store.FindUpdate(ctx, cz.ID, u.ID)
	if err != nil || u.BlastID != 0 {
		return "", ""
	}
	in := notify.BlastInput{Subject: u.Title, Body: u.BodyMD,
		CTALabel: h.rdr.Catalogue.T(templates.LangOf(c), "UpdateEmailCTA"), CTAURL: h.causeURL(cz) + "#" + u.Anchor()}
	id, problems, err := h.cfg.UpdateMail.Draft(ctx, cz.Slug, o.ID, in)
	if err != nil {
		slog.ErrorContext(ctx, "prepare an update's email", slog.Int64("update", u.ID), slog.Any("error", err))
		return "", "FlashUpdateNotEmailedError"
	}
	if len(problems) > 0 {
		return "", "FlashUpdateNotEmailedInvalid"
	}
	if err := h.store.SetUpdateBlast(ctx, cz.ID, u.ID, id); err != nil {
		// The draft exists: the organiser still checks and sends it.
		slog.ErrorContext(ctx, "record an update's email", slog.Int64("update", u.ID), slog.Any("error", err))
	}
	return notify.BlastPath(cz.Slug, id), ""
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
	u, err := h.store.EditUpdate(c.Request.Context(), cz.ID, u.ID, in)
	if err != nil {
		h.fail(c, err)
		return
	}
	o, _ := CurrentOrganiser(c)
	h.updateDone(c, cz, o, u, in.EmailAsked && u.BlastID == 0, "FlashSaved", "FlashUpdateSavedEmailReady")
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
