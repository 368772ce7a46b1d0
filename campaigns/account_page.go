package campaigns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// The account page (GET /account) is where an organiser changes their
// password, sees every browser signed in to their account, and ends any of
// those sessions, or all of them.

type passwordChangeForm struct {
	Current string `form:"current_password"`
	New     string `form:"new_password"`
}

type accountPage struct {
	accountForm
	Organiser Organiser
	Sessions  []sessionRow
	// Done is the catalogue ID of what was just done, if anything.
	Done string
	// Error is the catalogue ID of why a change was refused, if anything.
	Error string
}

// sessionRow is a session as the account page lists it.
type sessionRow struct {
	Session
	Browser, OS string
	Current     bool
}

// accountDone maps ?done= to what the account page says was done.
var accountDone = map[string]string{
	"password": "AccountDonePassword",
	"reset":    "AccountDoneReset",
	"ended":    "AccountDoneSessionEnded",
}

func (a *Accounts) showAccount(c *gin.Context) {
	a.renderAccount(c, http.StatusOK, accountPage{Done: accountDone[c.Query("done")]})
}

func (a *Accounts) renderAccount(c *gin.Context, status int, page accountPage) {
	o, _ := CurrentOrganiser(c)
	cur, _ := sessionOf(c)
	sessions, err := a.store.ListSessions(c.Request.Context(), o.ID)
	if err != nil {
		a.fail(c, err)
		return
	}
	page.Organiser = o
	for _, s := range sessions {
		browser, os := deviceOf(s.UserAgent)
		page.Sessions = append(page.Sessions, sessionRow{Session: s, Browser: browser, OS: os, Current: s.ID == cur.ID})
	}
	a.render(c, status, "account.html", "AccountPageTitle", page)
}

func (a *Accounts) changePassword(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	cur, _ := sessionOf(c)
	var f passwordChangeForm
	if !bindAccountForm(c, &f) {
		return
	}
	// Guessing the current password from a stolen session is guessing a
	// password: it counts like a failed login.
	addr, network := notify.EmailKey(o.Email), clientNetwork(c.ClientIP())
	refused, wait := a.guard.check(addr, network, a.store.now())
	if refused {
		a.renderAccount(c, http.StatusTooManyRequests, accountPage{Error: "AccountErrChangeThrottled"})
		return
	}
	if err := a.sleep(c.Request.Context(), wait); err != nil {
		a.fail(c, err)
		return
	}
	hash, err := a.store.organiserPasswordHash(c.Request.Context(), o.ID)
	if err != nil {
		a.fail(c, err)
		return
	}
	ok, _, err := verifyPassword(o.ID, hash, f.Current)
	if err != nil {
		a.fail(c, err)
		return
	}
	errs := FormErrors{}
	if !ok {
		a.guard.failed(addr, network, a.store.now())
		errs["current_password"] = Problem{ID: "AccountErrCurrentPassword"}
	}
	if p, ok := validatePassword(f.New); !ok {
		errs["new_password"] = p
	}
	if errs.Any() {
		a.renderAccount(c, http.StatusUnprocessableEntity, accountPage{accountForm: accountForm{Errors: errs}})
		return
	}
	a.guard.succeeded(addr, network)
	newHash, err := hashPassword(f.New)
	if err != nil {
		a.fail(c, err)
		return
	}
	notice, err := a.passwordChangedMail(templates.LangOf(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.store.changePassword(c.Request.Context(), o.ID, cur.ID, newHash, notice); err != nil {
		a.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/account?done=password")
}

func (a *Accounts) endSession(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	cur, _ := sessionOf(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	// Another organiser's session is "not found", like one that never was.
	err = a.store.EndSession(c.Request.Context(), o.ID, id)
	switch {
	case errors.Is(err, ErrNotFound):
		c.AbortWithStatus(http.StatusNotFound)
	case err != nil:
		a.fail(c, err)
	case id == cur.ID:
		a.clearSessionCookie(c)
		c.Redirect(http.StatusSeeOther, "/")
	default:
		c.Redirect(http.StatusSeeOther, "/account?done=ended")
	}
}

func (a *Accounts) logoutEverywhere(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	if err := a.store.EndSessions(c.Request.Context(), o.ID, 0); err != nil {
		a.fail(c, err)
		return
	}
	a.clearSessionCookie(c)
	c.Redirect(http.StatusSeeOther, "/")
}

// changePassword sets the organiser's password hash, ends every session but
// keep, voids the emailed links sent before, and queues notice to them.
func (s *Store) changePassword(ctx context.Context, organiserID, keep int64, passwordHash string, notice notify.Message) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	err = tx.QueryRowContext(ctx, `UPDATE organisers SET password_hash = ?, updated_at = ? WHERE id = ? RETURNING name, email`,
		passwordHash, now, organiserID).Scan(&notice.ToName, &notice.To)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, deleteSessions, organiserID, keep); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := voidLinks(ctx, tx, organiserID, now); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := notify.Enqueue(ctx, tx, notice); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}

// deviceOf names the browser and the system of a user agent, as far as a
// person would recognise them ("Firefox", "Android"); "" for what it cannot
// tell.
func deviceOf(ua string) (browser, os string) {
	has := func(s string) bool { return strings.Contains(ua, s) }
	switch {
	case has("Edg/") || has("EdgA/") || has("EdgiOS/"):
		browser = "Edge"
	case has("OPR/") || has("Opera"):
		browser = "Opera"
	case has("SamsungBrowser/"):
		browser = "Samsung Internet"
	case has("Firefox/") || has("FxiOS/"):
		browser = "Firefox"
	case has("Chrome/") || has("CriOS/") || has("Chromium/"):
		browser = "Chrome"
	case has("Safari/"):
		browser = "Safari"
	}
	switch {
	case has("iPhone"):
		os = "iPhone"
	case has("iPad"):
		os = "iPad"
	case has("Android"):
		os = "Android"
	case has("CrOS"):
		os = "ChromeOS"
	case has("Windows"):
		os = "Windows"
	case has("Mac OS X") || has("Macintosh"):
		os = "macOS"
	case has("Linux"):
		os = "Linux"
	}
	return browser, os
}
