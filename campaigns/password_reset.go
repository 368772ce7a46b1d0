package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// A forgotten password is replaced through a link mailed on request from
// /password/forgot: it works once, within resetLinkTTL. Asking answers the
// same page whether or not an account has the address. Setting the new
// password ends every session of the account (whoever knew the old one is
// out), signs this browser in, confirms the address (the link proved it is
// theirs), voids the account's other emailed links, and tells the owner by
// mail.

type passwordResetForm struct {
	Password string `form:"password"`
}

type passwordResetPage struct {
	accountForm
	State string
	Token string
}

// passwordChangedMail is the data of the organiser_password_changed mail.
type passwordChangedMail struct {
	ResetURL string
}

func (a *Accounts) showPasswordForgot(c *gin.Context) {
	a.render(c, http.StatusOK, "account_password_forgot.html", "AccountForgotTitle", emailRequestPage{Email: keepTyped(c.Query("email"))})
}

func (a *Accounts) requestPasswordReset(c *gin.Context) {
	a.requestLink(c, linkReset, "account_password_forgot.html", "AccountForgotTitle", "organiser_password_reset", "/password/reset/", checkEmailReset)
}

func (a *Accounts) showPasswordReset(c *gin.Context) {
	token := c.Param("token")
	err := ErrNotFound
	if validToken(token) {
		_, err = a.store.linkOrganiser(c.Request.Context(), token, linkReset)
	}
	a.renderPasswordReset(c, token, err, nil)
}

func (a *Accounts) resetPassword(c *gin.Context) {
	token := c.Param("token")
	if !validToken(token) {
		a.renderPasswordReset(c, token, ErrNotFound, nil)
		return
	}
	var f passwordResetForm
	if !bindAccountForm(c, &f) {
		return
	}
	if p, ok := validatePassword(f.Password); !ok {
		// Say first if the link itself no longer works: a better password
		// would not help.
		_, err := a.store.linkOrganiser(c.Request.Context(), token, linkReset)
		a.renderPasswordReset(c, token, err, FormErrors{"password": p})
		return
	}
	hash, err := hashPassword(f.Password)
	if err != nil {
		a.fail(c, err)
		return
	}
	notice, err := a.passwordChangedMail(templates.LangOf(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	session, _ := NewToken()
	if err := a.store.resetPassword(c.Request.Context(), token, hash, session, a.sessionMeta(c), notice); err != nil {
		a.renderPasswordReset(c, token, err, nil)
		return
	}
	a.endBrowserSession(c)
	a.setSessionCookie(c, session)
	c.Redirect(http.StatusSeeOther, "/account?done=reset")
}

// renderPasswordReset shows the reset page for what err says of the link
// (see linkPageStatus), with the form's errors if any.
func (a *Accounts) renderPasswordReset(c *gin.Context, token string, err error, errs FormErrors) {
	status, state := linkPageStatus(err)
	if status == 0 {
		a.fail(c, err)
		return
	}
	page := passwordResetPage{State: state, accountForm: accountForm{Errors: errs}}
	if state == linkPageReady {
		page.Token = token
		if errs.Any() {
			status = http.StatusUnprocessableEntity
		}
	}
	a.render(c, status, "account_password_reset.html", "AccountResetTitle", page)
}

// passwordChangedMail renders the mail telling an organiser their password
// changed; the store addresses it.
func (a *Accounts) passwordChangedMail(lang string) (notify.Message, error) {
	return a.accountMail(lang, "", "", "organiser_password_changed", passwordChangedMail{ResetURL: a.baseURL + "/password/forgot"})
}

// resetPassword uses a reset link token: it sets the organiser's password
// hash, confirms their address, ends all their sessions and voids their
// other emailed links, starts a session under sessionToken, and queues
// notice to them. It returns ErrNotFound, ErrExpired or errLinkUsed for a
// link that cannot be used.
func (s *Store) resetPassword(ctx context.Context, token, passwordHash, sessionToken string, meta sessionMeta, notice notify.Message) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	id, err := useLink(ctx, tx, token, linkReset, now)
	if err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, `UPDATE organisers SET password_hash = ?, updated_at = ?,
		email_confirmed_at = coalesce(email_confirmed_at, ?) WHERE id = ? RETURNING name, email`,
		passwordHash, now, now, id).Scan(&notice.ToName, &notice.To)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := voidLinks(ctx, tx, id, now); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, deleteSessions, id, 0); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := deleteExpired(ctx, tx, now); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := insertSession(ctx, tx, id, sessionToken, meta, now); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := notify.Enqueue(ctx, tx, notice); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	return nil
}

// voidLinks marks every unused emailed link of the organiser used, in tx:
// after a password change, a link mailed before must not work.
func voidLinks(ctx context.Context, tx *sql.Tx, organiserID int64, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE organiser_link_tokens SET used_at = ?
		WHERE organiser_id = ? AND used_at IS NULL`, now, organiserID); err != nil {
		return fmt.Errorf("void links: %w", err)
	}
	return nil
}
