package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// An organiser can always get in without their password: they ask for a
// link at /login/link, and the link mailed to their address signs them in
// once, within loginLinkTTL. Asking answers the same page whether or not an
// account has the address. Opening the link shows a button; only pressing
// it (a POST) signs in, since mail scanners open links. Links are stored as
// hashes, like sessions.

// linkKind is what an emailed link is for.
type linkKind string

const (
	linkLogin linkKind = "login"
	linkReset linkKind = "reset"
)

// How long emailed links work.
const (
	loginLinkTTL = 15 * time.Minute
	resetLinkTTL = time.Hour
)

func (k linkKind) ttl() time.Duration {
	if k == linkLogin {
		return loginLinkTTL
	}
	return resetLinkTTL
}

// errLinkUsed is returned for an emailed link that has done its one job.
var errLinkUsed = errors.New("link already used")

// Link page states.
const (
	linkPageReady   = "ready"
	linkPageUnknown = "unknown"
	linkPageExpired = "expired"
	linkPageUsed    = "used"
)

type emailForm struct {
	Email string `form:"email"`
}

type emailRequestPage struct {
	accountForm
	Email string
}

type loginLinkPage struct {
	State   string
	Token   string
	Minutes int
}

// linkMail is the data of the organiser_login_link and
// organiser_password_reset mails.
type linkMail struct {
	URL     string
	Minutes int
}

func (a *Accounts) showLoginLinkRequest(c *gin.Context) {
	if _, ok := CurrentOrganiser(c); ok {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	a.render(c, http.StatusOK, "account_login_link.html", "AccountLoginLinkTitle", emailRequestPage{Email: keepTyped(c.Query("email"))})
}

func (a *Accounts) requestLoginLink(c *gin.Context) {
	a.requestLink(c, linkLogin, "account_login_link.html", "AccountLoginLinkTitle", "organiser_login_link", "/login/link/", checkEmailLogin)
}

// requestLink answers a request for an emailed link of kind: a form with
// the address, re-rendered (page, titleID) when it is not one; otherwise
// the same "check your email" page whether or not the address has an
// account, and a mail (template mailName, link under path) when it does.
func (a *Accounts) requestLink(c *gin.Context, kind linkKind, page, titleID, mailName, path, checkKind string) {
	var f emailForm
	if !bindAccountForm(c, &f) {
		return
	}
	email, p, ok := validateEmail(f.Email)
	if !ok {
		a.render(c, http.StatusUnprocessableEntity, page, titleID,
			emailRequestPage{accountForm: accountForm{Errors: FormErrors{"email": p}}, Email: keepTyped(f.Email)})
		return
	}
	token, _ := NewToken()
	mail, err := a.accountMail(templates.LangOf(c), "", email, mailName, linkMail{
		URL: a.baseURL + path + token, Minutes: int(kind.ttl() / time.Minute)})
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.store.requestLink(c.Request.Context(), notify.EmailKey(email), kind, token, mail); err != nil {
		a.fail(c, err)
		return
	}
	a.render(c, http.StatusOK, "account_check_email.html", "AccountCheckEmailTitle", checkEmailPage{Kind: checkKind, Email: email, Minutes: int(kind.ttl() / time.Minute)})
}

func (a *Accounts) showLoginLink(c *gin.Context) {
	token := c.Param("token")
	err := ErrNotFound
	if validToken(token) {
		_, err = a.store.linkOrganiser(c.Request.Context(), token, linkLogin)
	}
	a.renderLoginLink(c, token, err)
}

func (a *Accounts) useLoginLink(c *gin.Context) {
	token := c.Param("token")
	if !validToken(token) {
		a.renderLoginLink(c, token, ErrNotFound)
		return
	}
	session, _ := NewToken()
	_, err := a.store.signInByLink(c.Request.Context(), token, session, a.sessionMeta(c))
	if err != nil {
		a.renderLoginLink(c, token, err)
		return
	}
	a.endBrowserSession(c)
	a.setSessionCookie(c, session)
	c.Redirect(http.StatusSeeOther, "/dashboard")
}

// renderLoginLink shows the sign-in link page for what err says of the
// link: nil, ready to use; ErrNotFound, ErrExpired or errLinkUsed.
func (a *Accounts) renderLoginLink(c *gin.Context, token string, err error) {
	status, state := linkPageStatus(err)
	if status == 0 {
		a.fail(c, err)
		return
	}
	page := loginLinkPage{State: state, Minutes: int(loginLinkTTL / time.Minute)}
	if state == linkPageReady {
		page.Token = token
	}
	a.render(c, status, "account_login_link_use.html", "AccountLoginLinkUseTitle", page)
}

// linkPageStatus maps what is known of an emailed link to the status and
// state of its page; status 0 for an unexpected error.
func linkPageStatus(err error) (int, string) {
	switch {
	case err == nil:
		return http.StatusOK, linkPageReady
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, linkPageUnknown
	case errors.Is(err, ErrExpired):
		return http.StatusGone, linkPageExpired
	case errors.Is(err, errLinkUsed):
		return http.StatusGone, linkPageUsed
	}
	return 0, ""
}

// requestLink stores a link token of kind for the organiser whose address
// has the comparison key emailKey, and queues mail (addressed here to the
// organiser as stored) carrying it. It does nothing when no organiser has
// the address, or when one was sent a link of that kind less than mailGap
// ago.
func (s *Store) requestLink(ctx context.Context, emailKey string, kind linkKind, token string, mail notify.Message) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("request %s link: %w", kind, err)
	}
	defer tx.Rollback()
	now := s.now()
	var id int64
	err = tx.QueryRowContext(ctx, `SELECT id, name, email FROM organisers WHERE email_key = ?`, emailKey).Scan(&id, &mail.ToName, &mail.To)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("request %s link: %w", kind, err)
	}
	var recent int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM organiser_link_tokens
		WHERE organiser_id = ? AND kind = ? AND created_at > ?`, id, string(kind), now.Add(-mailGap)).Scan(&recent); err != nil {
		return fmt.Errorf("request %s link: %w", kind, err)
	}
	if recent > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO organiser_link_tokens (token_hash, organiser_id, kind, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, notify.HashToken(token), id, string(kind), now, now.Add(kind.ttl())); err != nil {
		return fmt.Errorf("request %s link: %w", kind, err)
	}
	if err := notify.Enqueue(ctx, tx, mail); err != nil {
		return fmt.Errorf("request %s link: %w", kind, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("request %s link: %w", kind, err)
	}
	return nil
}

// linkOrganiser returns the organiser a link token of kind was mailed to,
// if it can still be used: ErrNotFound, ErrExpired or errLinkUsed if not.
func (s *Store) linkOrganiser(ctx context.Context, token string, kind linkKind) (Organiser, error) {
	var expires time.Time
	var used sql.NullTime
	o, err := scanOrganiser(s.r.QueryRowContext(ctx, `SELECT `+organiserColumns+`, t.expires_at, t.used_at
		FROM organiser_link_tokens t JOIN organisers o ON o.id = t.organiser_id
		WHERE t.token_hash = ? AND t.kind = ?`, notify.HashToken(token), string(kind)), &expires, &used)
	switch {
	case errors.Is(err, ErrNotFound):
		return Organiser{}, err
	case err != nil:
		return Organiser{}, fmt.Errorf("find %s link: %w", kind, err)
	case used.Valid:
		return Organiser{}, errLinkUsed
	case !s.now().Before(expires):
		return Organiser{}, ErrExpired
	}
	return o, nil
}

// useLink marks a link token of kind used, in tx, and returns the
// organiser it was mailed to: ErrNotFound, ErrExpired or errLinkUsed if it
// cannot be used.
func useLink(ctx context.Context, tx *sql.Tx, token string, kind linkKind, now time.Time) (int64, error) {
	var id int64
	var expires time.Time
	var used sql.NullTime
	err := tx.QueryRowContext(ctx, `SELECT organiser_id, expires_at, used_at FROM organiser_link_tokens
		WHERE token_hash = ? AND kind = ?`, notify.HashToken(token), string(kind)).Scan(&id, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, ErrNotFound
	case err != nil:
		return 0, fmt.Errorf("use %s link: %w", kind, err)
	case used.Valid:
		return 0, errLinkUsed
	case !now.Before(expires):
		return 0, ErrExpired
	}
	if _, err := tx.ExecContext(ctx, `UPDATE organiser_link_tokens SET used_at = ? WHERE token_hash = ?`,
		now, notify.HashToken(token)); err != nil {
		return 0, fmt.Errorf("use %s link: %w", kind, err)
	}
	return id, nil
}

// signInByLink uses a sign-in link token and starts a session under
// sessionToken for the organiser it was mailed to.
func (s *Store) signInByLink(ctx context.Context, token, sessionToken string, meta sessionMeta) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sign in by link: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	id, err := useLink(ctx, tx, token, linkLogin, now)
	if err != nil {
		return 0, err
	}
	if err := deleteExpired(ctx, tx, now); err != nil {
		return 0, fmt.Errorf("sign in by link: %w", err)
	}
	if err := insertSession(ctx, tx, id, sessionToken, meta, now); err != nil {
		return 0, fmt.Errorf("sign in by link: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sign in by link: %w", err)
	}
	return id, nil
}
