package campaigns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// SessionCookie is the cookie that carries an organiser's session token.
const SessionCookie = "rally_session"

// organiserKey is where LoadSession puts the signed-in organiser.
const organiserKey = "rally.organiser"

// Login throttling: after loginMaxFailures failed logins for one email key
// within loginWindow, further attempts are refused until the oldest failure
// leaves the window.
const (
	loginMaxFailures = 10
	loginWindow      = 15 * time.Minute
)

// confirmResendGap is the least time between two confirmation mails to one
// organiser, so a double click or a script cannot flood their inbox.
const confirmResendGap = time.Minute

// AccountsConfig configures organiser accounts.
type AccountsConfig struct {
	// BaseURL is the absolute URL links in mails start with.
	BaseURL string
	// SecureCookies marks the session cookie Secure. It is also set when
	// BaseURL is https.
	SecureCookies bool
}

// Accounts serves organiser sign-up, login, logout and email confirmation,
// and provides the middleware that knows who is signed in.
type Accounts struct {
	store    *Store
	rdr      *templates.Renderer
	baseURL  string
	secure   bool
	failures *loginThrottle
}

// NewAccounts returns the organiser account handlers.
func NewAccounts(store *Store, rdr *templates.Renderer, cfg AccountsConfig) *Accounts {
	base := strings.TrimRight(cfg.BaseURL, "/")
	return &Accounts{
		store:    store,
		rdr:      rdr,
		baseURL:  base,
		secure:   cfg.SecureCookies || strings.HasPrefix(strings.ToLower(base), "https://"),
		failures: newLoginThrottle(loginMaxFailures, loginWindow),
	}
}

// Routes mounts the account pages.
func (a *Accounts) Routes(r gin.IRoutes) {
	r.GET("/signup", a.showSignup)
	r.POST("/signup", a.signup)
	r.GET("/login", a.showLogin)
	r.POST("/login", a.login)
	r.POST("/logout", a.logout)
	r.GET("/account/confirm/:token", a.showConfirm)
	r.POST("/account/confirm/:token", a.confirm)
	r.POST("/account/confirm-resend", a.resendConfirm)
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

// LoadSession reads the session cookie, when there is one, and records the
// organiser it belongs to for CurrentOrganiser and the page header. It never
// stops a request: without a valid session the request goes on anonymous, and
// a stale cookie is cleared.
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
		o, err := a.store.sessionOrganiser(c.Request.Context(), token)
		switch {
		case errors.Is(err, ErrNotFound):
			a.clearSessionCookie(c)
		case err != nil:
			slog.Error("load session", slog.Any("error", err))
		default:
			c.Set(organiserKey, o)
			templates.SetViewer(c, templates.Viewer{Name: o.Name, Admin: o.Admin})
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

type loginForm struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

type loginPage struct {
	Email string
	Next  string
	// Error is the catalogue ID of why the login was refused.
	Error string
}

// Confirmation page states.
const (
	confirmPageReady   = "ready"
	confirmPageDone    = "confirmed"
	confirmPageUnknown = "unknown"
	confirmPageExpired = "expired"
)

type confirmPage struct {
	State string
	Token string
	// LoggedIn says whether the visitor can ask for a new link right here.
	LoggedIn bool
}

type confirmSentPage struct {
	Email string
	// Sent is false when a link went out moments ago and no other was sent.
	Sent bool
}

// organiserConfirmMail is the data of the organiser_confirm mail.
type organiserConfirmMail struct {
	URL  string
	Days int
}

func (a *Accounts) render(c *gin.Context, status int, page, titleID string, data any) {
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

func (a *Accounts) fail(c *gin.Context, err error) { fail(c, err) }

// keepTyped makes typed text safe to put back in a form.
func keepTyped(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

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
	in := OrganiserInput{Name: f.Name, Email: f.Email, Password: f.Password}
	errs := in.Validate()
	page := signupPage{accountForm: accountForm{Errors: errs}, Name: keepTyped(f.Name), Email: keepTyped(f.Email)}
	if errs.Any() {
		a.render(c, http.StatusUnprocessableEntity, "signup.html", "AccountSignupTitle", page)
		return
	}
	hash, err := hashPassword(in.Password)
	if err != nil {
		a.fail(c, err)
		return
	}
	confirmToken, _ := NewToken()
	sessionToken, _ := NewToken()
	mail, err := a.confirmMail(templates.LangOf(c), in.Name, in.Email, confirmToken)
	if err != nil {
		a.fail(c, err)
		return
	}
	_, err = a.store.signUpOrganiser(c.Request.Context(), in, hash, confirmToken, sessionToken, mail)
	if errors.Is(err, ErrConflict) {
		errs["email"] = Problem{ID: "AccountErrEmailTaken"}
		a.render(c, http.StatusUnprocessableEntity, "signup.html", "AccountSignupTitle", page)
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	a.setSessionCookie(c, sessionToken)
	c.Redirect(http.StatusSeeOther, "/dashboard")
}

func (a *Accounts) showLogin(c *gin.Context) {
	next := localPath(c.Query("next"))
	if _, ok := CurrentOrganiser(c); ok {
		c.Redirect(http.StatusSeeOther, cmp.Or(next, "/dashboard"))
		return
	}
	a.render(c, http.StatusOK, "login.html", "AccountLoginTitle", loginPage{Next: next})
}

func (a *Accounts) login(c *gin.Context) {
	var f loginForm
	if !bindAccountForm(c, &f) {
		return
	}
	page := loginPage{Email: keepTyped(f.Email), Next: localPath(f.Next)}
	key := throttleKey(f.Email)
	if a.failures.blocked(key, a.store.now()) {
		page.Error = "AccountErrLoginThrottled"
		a.render(c, http.StatusTooManyRequests, "login.html", "AccountLoginTitle", page)
		return
	}
	o, rehash, ok, err := a.authenticate(c.Request.Context(), f.Email, f.Password)
	if err != nil {
		a.fail(c, err)
		return
	}
	if !ok {
		a.failures.fail(key, a.store.now())
		page.Error = "AccountErrLoginFailed"
		a.render(c, http.StatusUnprocessableEntity, "login.html", "AccountLoginTitle", page)
		return
	}
	a.failures.reset(key)
	token, _ := NewToken()
	if err := a.store.startSession(c.Request.Context(), o.ID, token, rehash); err != nil {
		a.fail(c, err)
		return
	}
	a.setSessionCookie(c, token)
	c.Redirect(http.StatusSeeOther, cmp.Or(page.Next, "/dashboard"))
}

// dummyPasswordHash is checked against when no account has the email typed,
// so a failed login takes as long whether or not the account exists.
var dummyPasswordHash = sync.OnceValue(func() string {
	h, err := hashPassword("no account has this password")
	if err != nil {
		panic(err)
	}
	return h
})

// authenticate checks an email and password. When they match it returns the
// organiser, and a new hash of the password when the stored one was made with
// other costs than today's.
func (a *Accounts) authenticate(ctx context.Context, email, password string) (o Organiser, rehash string, ok bool, err error) {
	norm, err := NormalizeEmail(email)
	if err != nil || !utf8.ValidString(password) || len(password) > MaxPasswordBytes {
		return Organiser{}, "", false, nil
	}
	o, hash, err := a.store.organiserCredentials(ctx, EmailKey(norm))
	if errors.Is(err, ErrNotFound) {
		_, _ = checkPassword(dummyPasswordHash(), password)
		return Organiser{}, "", false, nil
	}
	if err != nil {
		return Organiser{}, "", false, err
	}
	ok, err = checkPassword(hash, password)
	if err != nil {
		return Organiser{}, "", false, fmt.Errorf("check password of organiser %d: %w", o.ID, err)
	}
	if !ok {
		return Organiser{}, "", false, nil
	}
	if passwordNeedsRehash(hash) {
		if rehash, err = hashPassword(password); err != nil {
			return Organiser{}, "", false, err
		}
	}
	return o, rehash, true, nil
}

func (a *Accounts) logout(c *gin.Context) {
	if token, err := c.Cookie(SessionCookie); err == nil && validToken(token) {
		if err := a.store.deleteSession(c.Request.Context(), token); err != nil {
			a.fail(c, err)
			return
		}
	}
	a.clearSessionCookie(c)
	c.Redirect(http.StatusSeeOther, "/")
}

func (a *Accounts) showConfirm(c *gin.Context) {
	_, loggedIn := CurrentOrganiser(c)
	page := confirmPage{Token: c.Param("token"), LoggedIn: loggedIn}
	if !validToken(page.Token) {
		a.renderConfirm(c, http.StatusNotFound, page, confirmPageUnknown)
		return
	}
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
	_, err := a.store.confirmOrganiserEmail(c.Request.Context(), page.Token)
	switch {
	case errors.Is(err, ErrNotFound):
		a.renderConfirm(c, http.StatusNotFound, page, confirmPageUnknown)
	case errors.Is(err, ErrExpired):
		a.renderConfirm(c, http.StatusGone, page, confirmPageExpired)
	case err != nil:
		a.fail(c, err)
	default:
		c.Redirect(http.StatusSeeOther, "/dashboard")
	}
}

func (a *Accounts) renderConfirm(c *gin.Context, status int, page confirmPage, state string) {
	page.State = state
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
	mail, err := a.confirmMail(templates.LangOf(c), o.Name, o.Email, token)
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

// confirmMail renders the mail carrying an email confirmation link.
func (a *Accounts) confirmMail(lang, name, email, token string) (notify.Message, error) {
	m, err := a.rdr.Mail(lang, "organiser_confirm", organiserConfirmMail{
		URL:  a.baseURL + "/account/confirm/" + token,
		Days: int(emailTokenTTL / (24 * time.Hour)),
	})
	if err != nil {
		return notify.Message{}, err
	}
	return notify.Message{To: email, ToName: name, Lang: lang, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		Priority: notify.Transactional, Kind: "organiser_confirm"}, nil
}

func (a *Accounts) setSessionCookie(c *gin.Context, token string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: token, Path: "/",
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

func (a *Accounts) clearSessionCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: "", Path: "/",
		MaxAge: -1, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

// throttleKey is what failed logins are counted under: the email key of the
// address typed, or "" (not counted) when it is no address at all, since no
// account can match it.
func throttleKey(email string) string {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return ""
	}
	return EmailKey(norm)
}

// loginThrottle counts recent failed logins per email key. It lives in memory:
// a restart forgets the counts, and each process counts its own, which is
// enough to stop password guessing against one account at any useful rate.
type loginThrottle struct {
	mu       sync.Mutex
	failures map[string][]time.Time // oldest first, at most max
	max      int
	window   time.Duration
	// The map is swept of idle keys when it grows past sweepAt, which
	// doubles with what remains so sweeps stay rare; never below minSweep.
	sweepAt, minSweep int
}

func newLoginThrottle(max int, window time.Duration) *loginThrottle {
	return &loginThrottle{failures: map[string][]time.Time{}, max: max, window: window, sweepAt: 10000, minSweep: 10000}
}

// recent returns key's failures within the window before now, forgetting
// older ones. The caller holds mu.
func (t *loginThrottle) recent(key string, now time.Time) []time.Time {
	fs := t.failures[key]
	cutoff := now.Add(-t.window)
	i := 0
	for i < len(fs) && !fs[i].After(cutoff) {
		i++
	}
	if i == len(fs) {
		delete(t.failures, key)
		return nil
	}
	if i > 0 {
		fs = fs[i:]
		t.failures[key] = fs
	}
	return fs
}

func (t *loginThrottle) blocked(key string, now time.Time) bool {
	if key == "" {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recent(key, now)) >= t.max
}

func (t *loginThrottle) fail(key string, now time.Time) {
	if key == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fs := append(t.recent(key, now), now)
	if len(fs) > t.max {
		fs = fs[len(fs)-t.max:]
	}
	t.failures[key] = fs
	// Forget idle keys now and then, so guesses at many addresses cannot
	// grow the map without bound.
	if len(t.failures) > t.sweepAt {
		for k := range t.failures {
			t.recent(k, now)
		}
		t.sweepAt = max(t.minSweep, 2*len(t.failures))
	}
}

func (t *loginThrottle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}
