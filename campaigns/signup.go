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

// Sign-up answers every valid form the same way: a "check your email" page,
// no cookie. What differs is the mail. For a new address, a link that opens
// the account: the organiser is made, already confirmed, and signed in when
// the link is used (see organiser_signups in migration 005). For an address
// that already has an account, a mail to its owner saying someone tried to
// sign up, with the ways into their account. So the screen tells nobody who
// has an account, and nobody gets an account, or a session, at an address
// they cannot read.
const (
	// signupTTL is how long a sign-up link works. It opens a session, so it
	// is shorter than the old confirmation links.
	signupTTL = 48 * time.Hour
	// signupNoticeGap is the least time between two "someone tried to sign
	// up with your address" mails to one owner.
	signupNoticeGap = time.Hour
)

type signupForm struct {
	Name     string `form:"name"`
	Email    string `form:"email"`
	Password string `form:"password"`
}

type signupPage struct {
	accountForm
	Name  string
	Email string
}

// What a "check your email" page is about.
const (
	checkEmailSignup = "signup"
	checkEmailLogin  = "login"
	checkEmailReset  = "reset"
)

type checkEmailPage struct {
	Kind  string
	Email string
	// Minutes is how long the link mailed works, for a link on request.
	Minutes int
}

// Confirmation page states.
const (
	confirmPageReady         = "ready"
	confirmPageDone          = "confirmed"
	confirmPageUnknown       = "unknown"
	confirmPageExpired       = "expired"
	confirmPageSignupExpired = "signup-expired"
)

type confirmPage struct {
	State string
	Token string
	// Signup says the link opens a new account (not one that exists).
	Signup bool
	// LoggedIn says whether the visitor can ask for a new link right here.
	LoggedIn bool
	// SignupDays is how long sign-up links work.
	SignupDays int
	// Error is the catalogue ID of why the link did not open the account.
	Error string
}

type confirmSentPage struct {
	Email string
	// Sent is false when a link went out moments ago and no other was sent.
	Sent bool
}

// organiserConfirmMail is the data of the organiser_confirm and
// organiser_signup mails.
type organiserConfirmMail struct {
	URL  string
	Days int
}

// signupTakenMail is the data of the organiser_signup_taken mail.
type signupTakenMail struct {
	LoginURL     string
	LoginLinkURL string
	ResetURL     string
}

func (a *Accounts) showSignup(c *gin.Context) {
	if _, ok := CurrentOrganiser(c); ok {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	a.render(c, http.StatusOK, "signup.html", "AccountSignupTitle", signupPage{})
}

func (a *Accounts) signup(c *gin.Context) {
	var f signupForm
	if !bindAccountForm(c, &f) {
		return
	}
	in := OrganiserInput(f)
	errs := in.Validate()
	if errs.Any() {
		page := signupPage{accountForm: accountForm{Errors: errs}, Name: keepTyped(f.Name), Email: keepTyped(f.Email)}
		a.render(c, http.StatusUnprocessableEntity, "signup.html", "AccountSignupTitle", page)
		return
	}
	// The password is hashed and both mails rendered whichever is sent, so
	// the answer takes as long either way.
	hash, err := hashPassword(in.Password)
	if err != nil {
		a.fail(c, err)
		return
	}
	token, _ := NewToken()
	lang := templates.LangOf(c)
	welcome, err := a.accountMail(lang, in.Name, in.Email, "organiser_signup", organiserConfirmMail{
		URL: a.baseURL + "/account/confirm/" + token, Days: int(signupTTL / (24 * time.Hour))})
	if err != nil {
		a.fail(c, err)
		return
	}
	notice, err := a.accountMail(lang, "", in.Email, "organiser_signup_taken", signupTakenMail{
		LoginURL: a.baseURL + "/login", LoginLinkURL: a.baseURL + "/login/link", ResetURL: a.baseURL + "/password/forgot"})
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.store.signUp(c.Request.Context(), in, hash, token, welcome, notice); err != nil {
		a.fail(c, err)
		return
	}
	a.render(c, http.StatusOK, "account_check_email.html", "AccountCheckEmailTitle",
		checkEmailPage{Kind: checkEmailSignup, Email: in.Email})
}

func (a *Accounts) showConfirm(c *gin.Context) {
	_, loggedIn := CurrentOrganiser(c)
	page := confirmPage{Token: c.Param("token"), LoggedIn: loggedIn}
	if !validToken(page.Token) {
		a.renderConfirm(c, http.StatusNotFound, page, confirmPageUnknown)
		return
	}
	_, err := a.store.signupState(c.Request.Context(), page.Token)
	page.Signup = !errors.Is(err, ErrNotFound)
	switch {
	case err == nil:
		a.renderConfirm(c, http.StatusOK, page, confirmPageReady)
		return
	case errors.Is(err, ErrConflict):
		a.renderConfirm(c, http.StatusOK, page, confirmPageDone)
		return
	case errors.Is(err, ErrExpired):
		a.renderConfirm(c, http.StatusGone, page, confirmPageSignupExpired)
		return
	case !errors.Is(err, ErrNotFound):
		a.fail(c, err)
		return
	}
	// A link to confirm the address of an account made before sign-ups
	// waited for their link.
	o, err := a.store.emailTokenOrganiser(c.Request.Context(), page.Token)
	switch {
	case errors.Is(err, ErrNotFound):
		a.renderConfirm(c, http.StatusNotFound, page, confirmPageUnknown)
	case errors.Is(err, ErrExpired) && o.EmailConfirmed():
		a.renderConfirm(c, http.StatusOK, page, confirmPageDone)
	case errors.Is(err, ErrExpired):
		a.renderConfirm(c, http.StatusGone, page, confirmPageExpired)
	case err != nil:
		a.fail(c, err)
	case o.EmailConfirmed():
		a.renderConfirm(c, http.StatusOK, page, confirmPageDone)
	default:
		a.renderConfirm(c, http.StatusOK, page, confirmPageReady)
	}
}

func (a *Accounts) confirm(c *gin.Context) {
	_, loggedIn := CurrentOrganiser(c)
	page := confirmPage{Token: c.Param("token"), LoggedIn: loggedIn}
	if !validToken(page.Token) {
		a.renderConfirm(c, http.StatusNotFound, page, confirmPageUnknown)
		return
	}
	// A sign-up's link makes the account and signs its owner in, once they
	// type the password chosen at sign-up: whoever signed up with someone
	// else's address cannot have its owner open an account whose password
	// they know by pressing a button in a mail they did not ask for.
	var session string
	hash, err := a.store.signupState(c.Request.Context(), page.Token)
	if err == nil {
		var f struct {
			Password string `form:"password"`
		}
		if !bindAccountForm(c, &f) {
			return
		}
		ok, perr := checkPassword(hash, f.Password)
		if perr != nil {
			a.fail(c, perr)
			return
		}
		if !ok {
			page.Signup, page.Error = true, "AccountErrSignupPassword"
			a.renderConfirm(c, http.StatusUnprocessableEntity, page, confirmPageReady)
			return
		}
		session, _ = NewToken()
		_, err = a.store.completeSignup(c.Request.Context(), page.Token, session, a.sessionMeta(c))
	}
	page.Signup = !errors.Is(err, ErrNotFound)
	switch {
	case err == nil:
		a.endBrowserSession(c)
		a.setSessionCookie(c, session)
		templates.SetFlash(c, "FlashAccountOpen")
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	case errors.Is(err, ErrConflict):
		a.renderConfirm(c, http.StatusOK, page, confirmPageDone)
		return
	case errors.Is(err, ErrExpired):
		a.renderConfirm(c, http.StatusGone, page, confirmPageSignupExpired)
		return
	case !errors.Is(err, ErrNotFound):
		a.fail(c, err)
		return
	}
	_, err = a.store.confirmOrganiserEmail(c.Request.Context(), page.Token)
	switch {
	case errors.Is(err, ErrNotFound):
		a.renderConfirm(c, http.StatusNotFound, page, confirmPageUnknown)
	case errors.Is(err, ErrExpired):
		a.renderConfirm(c, http.StatusGone, page, confirmPageExpired)
	case err != nil:
		a.fail(c, err)
	default:
		templates.SetFlash(c, "FlashEmailConfirmed")
		c.Redirect(http.StatusSeeOther, "/dashboard")
	}
}

func (a *Accounts) renderConfirm(c *gin.Context, status int, page confirmPage, state string) {
	page.State = state
	page.SignupDays = int(signupTTL / (24 * time.Hour))
	if state != confirmPageReady {
		page.Token = ""
	}
	a.render(c, status, "account_confirm.html", "AccountConfirmTitle", page)
}

func (a *Accounts) resendConfirm(c *gin.Context) {
	o, ok := CurrentOrganiser(c)
	if !ok {
		redirectToLogin(c)
		return
	}
	if o.EmailConfirmed() {
		c.Redirect(http.StatusSeeOther, "/dashboard")
		return
	}
	token, _ := NewToken()
	mail, err := a.accountMail(templates.LangOf(c), o.Name, o.Email, "organiser_confirm", organiserConfirmMail{
		URL: a.baseURL + "/account/confirm/" + token, Days: int(emailTokenTTL / (24 * time.Hour))})
	if err != nil {
		a.fail(c, err)
		return
	}
	sent, err := a.store.renewEmailToken(c.Request.Context(), o.ID, token, mail, confirmResendGap)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.render(c, http.StatusOK, "account_confirm_sent.html", "AccountConfirmSentTitle",
		confirmSentPage{Email: o.Email, Sent: sent})
}

// signUp records a sign-up (in is validated, passwordHash computed) and
// queues its mail: welcome, carrying the link with token, for an address
// without an account; notice, to the account's owner, for an address with
// one. Neither goes out twice within its gap (mailGap, signupNoticeGap);
// the caller cannot tell which happened, and need not.
func (s *Store) signUp(ctx context.Context, in OrganiserInput, passwordHash, token string, welcome, notice notify.Message) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sign up: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	key := notify.EmailKey(in.Email)
	var id int64
	var noticeAt sql.NullTime
	err = tx.QueryRowContext(ctx, `SELECT id, name, email, signup_notice_at FROM organisers WHERE email_key = ?`, key).
		Scan(&id, &notice.ToName, &notice.To, &noticeAt)
	switch {
	case err == nil:
		if noticeAt.Valid && now.Sub(noticeAt.Time) < signupNoticeGap {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE organisers SET signup_notice_at = ? WHERE id = ?`, now, id); err != nil {
			return fmt.Errorf("sign up: %w", err)
		}
		if err := notify.Enqueue(ctx, tx, notice); err != nil {
			return fmt.Errorf("sign up: %w", err)
		}
	case errors.Is(err, sql.ErrNoRows):
		var recent int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM organiser_signups
			WHERE email_key = ? AND created_at > ? AND used_at IS NULL`,
			key, now.Add(-mailGap)).Scan(&recent); err != nil {
			return fmt.Errorf("sign up: %w", err)
		}
		if recent > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO organiser_signups
			(token_hash, name, email, email_key, password_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			notify.HashToken(token), in.Name, in.Email, key, passwordHash, now, now.Add(signupTTL)); err != nil {
			return fmt.Errorf("sign up: %w", err)
		}
		if err := notify.Enqueue(ctx, tx, welcome); err != nil {
			return fmt.Errorf("sign up: %w", err)
		}
	default:
		return fmt.Errorf("sign up: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sign up: %w", err)
	}
	return nil
}

// signupState says what the sign-up link token would do: nil when it would
// open an account, ErrNotFound for no sign-up, ErrExpired, or ErrConflict
// when the address has an account by now (this link or another opened it).
// With nil it also returns the hash of the password chosen at sign-up.
func (s *Store) signupState(ctx context.Context, token string) (string, error) {
	var expires time.Time
	var done bool
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT su.expires_at, su.password_hash, su.used_at IS NOT NULL
		OR EXISTS (SELECT 1 FROM organisers o WHERE o.email_key = su.email_key)
		FROM organiser_signups su WHERE su.token_hash = ?`, notify.HashToken(token)).Scan(&expires, &hash, &done)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", ErrNotFound
	case err != nil:
		return "", fmt.Errorf("find sign-up: %w", err)
	case done:
		return "", ErrConflict
	case !s.now().Before(expires):
		return "", ErrExpired
	}
	return hash, nil
}

// completeSignup opens the account the sign-up link token was mailed for:
// the organiser, with their address confirmed, and a first session under
// sessionToken. Every sign-up of the address is then used. It returns
// ErrNotFound for no sign-up, ErrExpired, or ErrConflict when the address
// has an account by now (this link or another opened it).
func (s *Store) completeSignup(ctx context.Context, token, sessionToken string, meta sessionMeta) (Organiser, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Organiser{}, fmt.Errorf("complete sign-up: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	var in OrganiserInput
	var key, hash string
	var expires time.Time
	var done bool
	err = tx.QueryRowContext(ctx, `SELECT su.name, su.email, su.email_key, su.password_hash, su.expires_at,
		su.used_at IS NOT NULL OR EXISTS (SELECT 1 FROM organisers o WHERE o.email_key = su.email_key)
		FROM organiser_signups su WHERE su.token_hash = ?`, notify.HashToken(token)).Scan(&in.Name, &in.Email, &key, &hash, &expires, &done)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Organiser{}, ErrNotFound
	case err != nil:
		return Organiser{}, fmt.Errorf("complete sign-up: %w", err)
	case done:
		return Organiser{}, ErrConflict
	case !now.Before(expires):
		return Organiser{}, ErrExpired
	}
	o, err := insertOrganiser(ctx, tx, in, hash, false, &now, now)
	if err != nil {
		return Organiser{}, fmt.Errorf("complete sign-up: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE organiser_signups SET used_at = coalesce(used_at, ?), password_hash = ''
		WHERE email_key = ?`, now, key); err != nil {
		return Organiser{}, fmt.Errorf("complete sign-up: %w", err)
	}
	if err := deleteExpired(ctx, tx, now); err != nil {
		return Organiser{}, fmt.Errorf("complete sign-up: %w", err)
	}
	if err := insertSession(ctx, tx, o.ID, sessionToken, meta, now); err != nil {
		return Organiser{}, fmt.Errorf("complete sign-up: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Organiser{}, fmt.Errorf("complete sign-up: %w", err)
	}
	return o, nil
}
