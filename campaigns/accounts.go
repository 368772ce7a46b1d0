package campaigns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// SessionCookie is the cookie that carries an organiser's session token.
const SessionCookie = "rally_session"

// Where LoadSession puts the signed-in organiser and their session.
const (
	organiserKey = "rally.organiser"
	sessionKey   = "rally.session"
)

// mailGap is the least time between two mails of one kind (a confirmation
// link, a sign-in link, a reset link) to one address, so a double click or
// a script cannot flood an inbox. A request within the gap answers as if it
// had sent one.
const mailGap = time.Minute

// confirmResendGap is the least time between two confirmation mails to one
// organiser.
const confirmResendGap = mailGap

// AccountsConfig configures organiser accounts.
type AccountsConfig struct {
	// BaseURL is the absolute URL links in mails start with.
	BaseURL string
	// SecureCookies marks the session cookie Secure. It is also set when
	// BaseURL is https.
	SecureCookies bool
}

// Accounts serves organiser sign-up, login (by password or by emailed
// link), logout, email confirmation, password reset and the account page,
// and provides the middleware that knows who is signed in.
type Accounts struct {
	store   *Store
	rdr     *templates.Renderer
	baseURL string
	secure  bool
	guard   *loginGuard
	// sleep waits before a login to an address under attack; tests
	// replace it.
	sleep func(context.Context, time.Duration) error
}

// NewAccounts returns the organiser account handlers.
func NewAccounts(store *Store, rdr *templates.Renderer, cfg AccountsConfig) *Accounts {
	base := strings.TrimRight(cfg.BaseURL, "/")
	return &Accounts{
		store:   store,
		rdr:     rdr,
		baseURL: base,
		secure:  cfg.SecureCookies || strings.HasPrefix(strings.ToLower(base), "https://"),
		guard:   newLoginGuard(),
		sleep:   sleepCtx,
	}
}

// Routes mounts the account pages anyone may open: sign-up, login, the
// links mailed to organisers, and logout.
func (a *Accounts) Routes(r gin.IRoutes) {
	r.GET("/signup", a.showSignup)
	r.POST("/signup", a.signup)
	r.GET("/login", a.showLogin)
	r.POST("/login", a.login)
	r.GET("/login/link", a.showLoginLinkRequest)
	r.POST("/login/link", a.requestLoginLink)
	r.GET("/login/link/:token", a.showLoginLink)
	r.POST("/login/link/:token", a.useLoginLink)
	r.GET("/password/forgot", a.showPasswordForgot)
	r.POST("/password/forgot", a.requestPasswordReset)
	r.GET("/password/reset/:token", a.showPasswordReset)
	r.POST("/password/reset/:token", a.resetPassword)
	r.POST("/logout", a.logout)
	r.GET("/account/confirm/:token", a.showConfirm)
	r.POST("/account/confirm/:token", a.confirm)
	r.POST("/account/confirm-resend", a.resendConfirm)
}

// OrganiserRoutes mounts the signed-in organiser's account page and its
// actions. The caller puts RequireOrganiser (and the cross-origin check) in
// front of it, as for the rest of the organiser's area.
func (a *Accounts) OrganiserRoutes(r gin.IRoutes) {
	r.GET("/account", a.showAccount)
	r.POST("/account/password", a.changePassword)
	r.POST("/account/sessions/:id/end", a.endSession)
	r.POST("/account/logout-everywhere", a.logoutEverywhere)
}

// CurrentOrganiser returns the organiser signed in on this request, as found
// by LoadSession.
func CurrentOrganiser(c *gin.Context) (Organiser, bool) {
	v, ok := c.Get(organiserKey)
	if !ok {
		return Organiser{}, false
	}
	o, ok := v.(Organiser)
	return o, ok
}

// sessionOf returns the session the request came with, as found by
// LoadSession.
func sessionOf(c *gin.Context) (currentSession, bool) {
	v, ok := c.Get(sessionKey)
	if !ok {
		return currentSession{}, false
	}
	s, ok := v.(currentSession)
	return s, ok
}

// LoadSession reads the session cookie, when there is one, and records the
// organiser it belongs to for CurrentOrganiser and the page header. It never
// stops a request: without a valid session the request goes on anonymous, and
// a stale cookie is cleared. Every few minutes it notes that the session is
// still in use, for the account page.
func (a *Accounts) LoadSession() gin.HandlerFunc {
	return func(c *gin.Context) {
		token, err := c.Cookie(SessionCookie)
		if err != nil || token == "" {
			c.Next()
			return
		}
		if !validToken(token) {
			a.clearSessionCookie(c)
			c.Next()
			return
		}
		o, cur, err := a.store.sessionOrganiser(c.Request.Context(), token)
		switch {
		case errors.Is(err, ErrNotFound):
			a.clearSessionCookie(c)
		case err != nil:
			slog.Error("load session", slog.Any("error", err))
		default:
			c.Set(organiserKey, o)
			c.Set(sessionKey, cur)
			templates.SetViewer(c, templates.Viewer{Name: o.Name, Admin: o.Admin})
			if a.store.now().Sub(cur.LastSeenAt) >= sessionTouchEvery {
				if err := a.store.touchSession(c.Request.Context(), cur.ID, a.sessionMeta(c)); err != nil {
					slog.Error("touch session", slog.Any("error", err))
				}
			}
		}
		c.Next()
	}
}

// RequireOrganiser lets only signed-in organisers through; anyone else is
// sent to the login page, which brings them back to the page they asked for
// (for GET requests; after a refused POST they land on the dashboard).
func (a *Accounts) RequireOrganiser() gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := CurrentOrganiser(c); !ok {
			redirectToLogin(c)
			return
		}
		c.Next()
	}
}

// RequireAdmin lets only admins through: anyone not signed in is sent to the
// login page, an organiser who is not an admin gets 403.
func (a *Accounts) RequireAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		o, ok := CurrentOrganiser(c)
		switch {
		case !ok:
			redirectToLogin(c)
		case !o.Admin:
			c.AbortWithStatus(http.StatusForbidden)
		default:
			c.Next()
		}
	}
}

func redirectToLogin(c *gin.Context) {
	target := "/login"
	if m := c.Request.Method; m == http.MethodGet || m == http.MethodHead {
		if next := localPath(c.Request.URL.RequestURI()); next != "" {
			target += "?next=" + url.QueryEscape(next)
		}
	}
	c.Redirect(http.StatusSeeOther, target)
	c.Abort()
}

// AddOrganiser creates an organiser whose address counts as confirmed, for
// the command line. Its errors read well in a terminal; they wrap an
// *InvalidOrganiserError or ErrConflict.
func (a *Accounts) AddOrganiser(ctx context.Context, name, email, password string, admin bool) (Organiser, error) {
	o, err := a.store.CreateOrganiser(ctx, name, email, password, admin, true)
	var invalid *InvalidOrganiserError
	switch {
	case errors.As(err, &invalid):
		fields := make([]string, 0, len(invalid.Fields))
		for f := range invalid.Fields {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		msgs := make([]string, len(fields))
		for i, f := range fields {
			p := invalid.Fields[f]
			msgs[i] = f + ": " + a.rdr.Catalogue.T("en", p.ID, "Max", p.Max)
		}
		return Organiser{}, fmt.Errorf("add organiser: %s: %w", strings.Join(msgs, "; "), err)
	case errors.Is(err, ErrConflict):
		return Organiser{}, fmt.Errorf("add organiser: an account with this email address already exists: %w", err)
	case err != nil:
		return Organiser{}, fmt.Errorf("add organiser: %w", err)
	}
	return o, nil
}

// accountForm gives account pages their field errors.
type accountForm struct {
	Errors FormErrors
}

// Err returns the problem with field, or nil; templates use it with "with".
func (f accountForm) Err(field string) *Problem {
	if p, ok := f.Errors[field]; ok {
		return &p
	}
	return nil
}

func (a *Accounts) render(c *gin.Context, status int, page, titleID string, data any) {
	c.Header("Cache-Control", "private, no-store")
	a.rdr.HTML(c, status, "campaigns/"+page, &templates.Page{
		Title:   a.rdr.Catalogue.T(templates.LangOf(c), titleID),
		NoIndex: true,
		Data:    data,
	})
}

// bindAccountForm reads a posted form into dst; on failure it aborts with 413
// or 400 and returns false.
func bindAccountForm(c *gin.Context, dst any) bool {
	if err := c.ShouldBindWith(dst, binding.Form); err != nil {
		badForm(c, err)
		return false
	}
	return true
}

func (a *Accounts) fail(c *gin.Context, err error) { templates.Fail(c, err) }

// keepTyped makes typed text safe to put back in a form.
func keepTyped(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// accountMail renders the mail name in lang, to be sent to name <email>.
func (a *Accounts) accountMail(lang, name, email, kind string, data any) (notify.Message, error) {
	m, err := a.rdr.Mail(lang, kind, data)
	if err != nil {
		return notify.Message{}, err
	}
	return notify.Message{To: email, ToName: name, Lang: lang, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		Priority: notify.Transactional, Kind: kind}, nil
}

// sessionMeta is what a new or refreshed session records of this request's
// browser.
func (a *Accounts) sessionMeta(c *gin.Context) sessionMeta {
	return newSessionMeta(c.Request.UserAgent(), c.ClientIP())
}

// beginSession starts a session for the organiser in this browser: it
// stores it (with rehash as their new password hash, if not empty) and sets
// the cookie. A session the browser held before is ended, so signing in as
// someone else leaves nothing behind.
func (a *Accounts) beginSession(c *gin.Context, organiserID int64, rehash string) error {
	a.endBrowserSession(c)
	token, _ := NewToken()
	if err := a.store.startSession(c.Request.Context(), organiserID, token, rehash, a.sessionMeta(c)); err != nil {
		return err
	}
	a.setSessionCookie(c, token)
	return nil
}

// endBrowserSession deletes the session of the cookie this request came
// with, if any; errors are only logged, since a new session replaces it.
func (a *Accounts) endBrowserSession(c *gin.Context) {
	if token, err := c.Cookie(SessionCookie); err == nil && validToken(token) {
		if err := a.store.deleteSession(c.Request.Context(), token); err != nil {
			slog.Error("end replaced session", slog.Any("error", err))
		}
	}
}

func (a *Accounts) setSessionCookie(c *gin.Context, token string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: token, Path: "/",
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

func (a *Accounts) clearSessionCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: "", Path: "/",
		MaxAge: -1, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}
