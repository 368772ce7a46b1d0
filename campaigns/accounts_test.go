package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// acctEnv is a real gin engine with the account routes, LoadSession and two
// protected pages, over a fresh database, with a clock the test moves.
type acctEnv struct {
	t      *testing.T
	w      *sql.DB
	store  *Store
	acc    *Accounts
	engine *gin.Engine
	now    time.Time
	// ip is the client address requests come from, unless doFrom says;
	// ua the browser they say they come from.
	ip     string
	ua     string
	waited []time.Duration
}

func newAcctEnv(t *testing.T) *acctEnv {
	t.Helper()
	gin.SetMode(gin.TestMode)
	w, r := mustOpenDB(t)
	env := &acctEnv{t: t, w: w, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), ip: "192.0.2.1",
		ua: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"}
	env.store = NewStore(w, r)
	t.Cleanup(env.store.Close)
	env.store.SetClock(func() time.Time { return env.now })
	rdr := newTestRenderer(t)
	rdr.Now = func() time.Time { return env.now }
	env.acc = NewAccounts(env.store, rdr, AccountsConfig{BaseURL: "https://rally.example/"})
	e := gin.New()
	e.Use(templates.LanguageMiddleware(false), env.acc.LoadSession())
	env.acc.Routes(e)
	e.GET("/dashboard", env.acc.RequireOrganiser(), func(c *gin.Context) {
		o, _ := CurrentOrganiser(c)
		c.String(http.StatusOK, "dashboard of "+o.Name)
	})
	e.GET("/admin", env.acc.RequireAdmin(), func(c *gin.Context) { c.String(http.StatusOK, "admin") })
	env.acc.OrganiserRoutes(e.Group("", env.acc.RequireOrganiser()))
	// A login under attack waits before it is checked; tests note the wait
	// instead.
	env.acc.sleep = func(_ context.Context, d time.Duration) error {
		env.waited = append(env.waited, d)
		return nil
	}
	env.engine = e
	return env
}

func (env *acctEnv) do(method, target string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	env.t.Helper()
	return env.doFrom(env.ip, method, target, form, cookies...)
}

// doFrom sends a request from the client address ip.
func (env *acctEnv) doFrom(ip, method, target string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	env.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.RemoteAddr = net.JoinHostPort(ip, "40000")
	req.Header.Set("User-Agent", env.ua)
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	rec := httptest.NewRecorder()
	env.engine.ServeHTTP(rec, req)
	return rec
}

func (env *acctEnv) get(target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	return env.do(http.MethodGet, target, nil, cookies...)
}

func (env *acctEnv) post(target string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	return env.do(http.MethodPost, target, form, cookies...)
}

// signup signs up through the form, uses the link mailed, and returns the
// session cookie it set.
func (env *acctEnv) signup(name, email, password string) *http.Cookie {
	env.t.Helper()
	rec := env.post("/signup", url.Values{"name": {name}, "email": {email}, "password": {password}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Check your email") {
		env.t.Fatalf("signup %s: status %d, want 200 with the check-your-email page; body:\n%s", email, rec.Code, rec.Body)
	}
	rec = env.post("/account/confirm/"+env.confirmToken(), url.Values{"password": {password}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dashboard" {
		env.t.Fatalf("signup %s: the link answered %d to %q, want 303 to /dashboard", email, rec.Code, rec.Header().Get("Location"))
	}
	c := acctSessionCookie(rec)
	if c == nil || c.Value == "" {
		env.t.Fatalf("signup %s: no session cookie", email)
	}
	return c
}

// login logs in through the form and returns the session cookie.
func (env *acctEnv) login(email, password string) *http.Cookie {
	env.t.Helper()
	rec := env.post("/login", url.Values{"email": {email}, "password": {password}})
	if rec.Code != http.StatusSeeOther {
		env.t.Fatalf("login %s: status %d, want 303; body:\n%s", email, rec.Code, rec.Body)
	}
	c := acctSessionCookie(rec)
	if c == nil || c.Value == "" {
		env.t.Fatalf("login %s: no session cookie", email)
	}
	return c
}

func (env *acctEnv) count(query string, args ...any) int {
	env.t.Helper()
	var n int
	if err := env.w.QueryRow(query, args...).Scan(&n); err != nil {
		env.t.Fatal(err)
	}
	return n
}

type acctMail struct{ To, Subject, Text, HTML, Kind, Lang string }

func (env *acctEnv) outbox() []acctMail {
	env.t.Helper()
	rows, err := env.w.Query(`SELECT to_addr, subject, text_body, html_body, kind, lang FROM outbox ORDER BY id`)
	if err != nil {
		env.t.Fatal(err)
	}
	defer rows.Close()
	var out []acctMail
	for rows.Next() {
		var m acctMail
		if err := rows.Scan(&m.To, &m.Subject, &m.Text, &m.HTML, &m.Kind, &m.Lang); err != nil {
			env.t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		env.t.Fatal(err)
	}
	return out
}

var acctConfirmLink = regexp.MustCompile(`https://rally\.example/account/confirm/([A-Za-z0-9_-]{43})`)

// confirmToken returns the token of the newest confirmation mail.
func (env *acctEnv) confirmToken() string {
	env.t.Helper()
	mails := env.outbox()
	if len(mails) == 0 {
		env.t.Fatal("no mail in the outbox")
	}
	m := acctConfirmLink.FindStringSubmatch(mails[len(mails)-1].Text)
	if m == nil {
		env.t.Fatalf("no confirmation link in mail:\n%s", mails[len(mails)-1].Text)
	}
	return m[1]
}

// unconfirmed adds an organiser whose address is not confirmed, as sign-up
// made them before sign-ups waited for their link, and logs them in.
func (env *acctEnv) unconfirmed(name, email, password string) *http.Cookie {
	env.t.Helper()
	if _, err := env.store.CreateOrganiser(context.Background(), name, email, password, false, false); err != nil {
		env.t.Fatal(err)
	}
	return env.login(email, password)
}

// lastMail returns the newest mail of kind in the outbox.
func (env *acctEnv) lastMail(kind string) acctMail {
	env.t.Helper()
	mails := env.outbox()
	for i := len(mails) - 1; i >= 0; i-- {
		if mails[i].Kind == kind {
			return mails[i]
		}
	}
	env.t.Fatalf("no %s mail in the outbox", kind)
	return acctMail{}
}

// linkToken returns the token of the newest link under path (such as
// "login/link") in the outbox.
func (env *acctEnv) linkToken(path string) string {
	env.t.Helper()
	re := regexp.MustCompile(`https://rally\.example/` + regexp.QuoteMeta(path) + `/([A-Za-z0-9_-]{43})`)
	mails := env.outbox()
	for i := len(mails) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(mails[i].Text); m != nil {
			return m[1]
		}
	}
	env.t.Fatalf("no %s link in the outbox", path)
	return ""
}

func (env *acctEnv) organiserByEmail(email string) Organiser {
	env.t.Helper()
	o, _, err := env.store.organiserCredentials(context.Background(), notify.EmailKey(email))
	if err != nil {
		env.t.Fatalf("organiser %s: %v", email, err)
	}
	return o
}

func acctSessionCookie(rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	return nil
}

func TestSignupOpensAccountByLink(t *testing.T) {
	env := newAcctEnv(t)
	rec := env.post("/signup", url.Values{"name": {"Ada Lovelace"}, "email": {" Ada@Example.ORG "}, "password": {"correct horse battery"}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Check your email") || !strings.Contains(rec.Body.String(), "Ada@example.org") {
		t.Fatalf("got %d, want 200 with a check-your-email page naming the address; body:\n%s", rec.Code, rec.Body)
	}
	if acctSessionCookie(rec) != nil {
		t.Fatal("sign-up set a session cookie before the address was proved")
	}
	if n := env.count(`SELECT count(*) FROM organisers`); n != 0 {
		t.Fatalf("%d organisers before the link is used, want 0", n)
	}

	mails := env.outbox()
	if len(mails) != 1 {
		t.Fatalf("outbox has %d mails, want 1", len(mails))
	}
	m := mails[0]
	if m.To != "Ada@example.org" || m.Kind != "organiser_signup" || m.Subject != "Open your Rally organiser account" {
		t.Errorf("mail to %q kind %q subject %q", m.To, m.Kind, m.Subject)
	}
	token := env.confirmToken()
	if !strings.Contains(m.HTML, "https://rally.example/account/confirm/"+token) || !strings.Contains(m.Text, "The link works for 2 days.") {
		t.Errorf("mail lacks the link or how long it works:\n%s", m.Text)
	}
	if n := env.count(`SELECT count(*) FROM organiser_signups WHERE token_hash = ?`, notify.HashToken(token)); n != 1 {
		t.Errorf("sign-ups holding the link's hash: %d, want 1", n)
	}
	if n := env.count(`SELECT count(*) FROM organiser_signups WHERE token_hash = ? OR password_hash LIKE '%correct horse%'`, token); n != 0 {
		t.Error("the raw link token or the password is stored")
	}

	// Mail scanners open links: a GET only shows the button.
	path := "/account/confirm/" + token
	rec = env.get(path)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `action="`+path+`"`) || !strings.Contains(rec.Body.String(), "Open my account") {
		t.Fatalf("link page: %d, want 200 with a button posting to %s; body:\n%s", rec.Code, path, rec.Body)
	}
	if n := env.count(`SELECT count(*) FROM organisers`); n != 0 {
		t.Fatal("opening the link made the account")
	}

	rec = env.post(path, url.Values{"password": {"correct horse battery"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dashboard" {
		t.Fatalf("got %d to %q, want 303 to /dashboard; body:\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	c := acctSessionCookie(rec)
	if c == nil {
		t.Fatal("no session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || !c.Secure || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Secure (https base URL), Path=/ and a max age", c)
	}
	if len(c.Value) != 43 {
		t.Errorf("cookie value %q: want a 43-character token", c.Value)
	}
	o := env.organiserByEmail("ada@example.org")
	if o.Name != "Ada Lovelace" || o.Email != "Ada@example.org" || o.Admin || !o.EmailConfirmed() {
		t.Errorf("organiser %+v: want Ada Lovelace, Ada@example.org, not admin, confirmed", o)
	}
	var hash string
	if err := env.w.QueryRow(`SELECT password_hash FROM organisers WHERE id = ?`, o.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if ok, _ := checkPassword(hash, "correct horse battery"); !strings.HasPrefix(hash, "$argon2id$v=19$") || !ok {
		t.Errorf("stored password %q: want the argon2id hash of the password typed", hash)
	}
	if n := env.count(`SELECT count(*) FROM sessions WHERE token_hash = ? AND organiser_id = ?`, notify.HashToken(c.Value), o.ID); n != 1 {
		t.Errorf("sessions holding the cookie's hash: %d, want 1", n)
	}
	if n := env.count(`SELECT count(*) FROM sessions WHERE token_hash = ?`, c.Value); n != 0 {
		t.Error("the raw session token is stored")
	}
	rec = env.get("/dashboard", c)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "dashboard of Ada Lovelace") {
		t.Errorf("dashboard with the new cookie: %d %q, want 200", rec.Code, rec.Body)
	}
	if rec := env.get("/signup", c); rec.Code != http.StatusSeeOther {
		t.Errorf("signup page when signed in: %d, want 303 to the dashboard", rec.Code)
	}
	env.login("ada@example.org", "correct horse battery")

	// The link works once: used again it opens no session, and says so.
	rec = env.post(path, nil)
	if rec.Code != http.StatusOK || acctSessionCookie(rec) != nil || !strings.Contains(rec.Body.String(), "Your account is already open") {
		t.Errorf("link used again: %d, cookie %v; want 200 saying the account is open, and no session", rec.Code, acctSessionCookie(rec))
	}
	if n := env.count(`SELECT count(*) FROM organiser_signups WHERE password_hash <> ''`); n != 0 {
		t.Errorf("%d used sign-ups keep their password hash", n)
	}
	if n := env.count(`SELECT count(*) FROM organisers`); n != 1 {
		t.Errorf("%d organisers, want 1", n)
	}
}

func TestSignupMailInVisitorsLanguage(t *testing.T) {
	env := newAcctEnv(t)
	req := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(url.Values{
		"name": {"Louise Michel"}, "email": {"louise@example.fr"}, "password": {"la commune 1871"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9")
	rec := httptest.NewRecorder()
	env.engine.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Consultez vos e-mails") {
		t.Fatalf("status %d, want 200 with the French check-your-email page", rec.Code)
	}
	mails := env.outbox()
	if len(mails) != 1 || mails[0].Lang != "fr" || mails[0].Subject != "Ouvrez votre compte d’organisateur Rally" {
		t.Fatalf("mails %+v: want one French sign-up mail", mails)
	}
	if !strings.Contains(mails[0].Text, "Le lien fonctionne pendant 2 jours.") {
		t.Errorf("French text part:\n%s", mails[0].Text)
	}
}

func TestSignupValidation(t *testing.T) {
	tests := []struct {
		name     string
		form     url.Values
		field    string // the field marked invalid
		wantText string // shown next to it
		keep     []string
	}{
		{"short password", url.Values{"name": {"Ada Lovelace"}, "email": {"ada@example.org"}, "password": {"short"}},
			"password", "Use at least 10 characters.", []string{`value="Ada Lovelace"`, `value="ada@example.org"`}},
		{"bad email", url.Values{"name": {"Ada Lovelace"}, "email": {"ada@@example"}, "password": {"long enough password"}},
			"email", "Enter an email address like name@example.org.", []string{`value="Ada Lovelace"`, `value="ada@@example"`}},
		{"missing email", url.Values{"name": {"Ada"}, "email": {"  "}, "password": {"long enough password"}},
			"email", "Enter your email address.", []string{`value="Ada"`}},
		{"missing name", url.Values{"name": {"   "}, "email": {"ada@example.org"}, "password": {"long enough password"}},
			"name", "Enter your name.", []string{`value="ada@example.org"`}},
		{"long name", url.Values{"name": {strings.Repeat("n", MaxOrganiserName+1)}, "email": {"ada@example.org"}, "password": {"long enough password"}},
			"name", "Use at most 100 characters.", []string{`value="ada@example.org"`}},
		{"invalid UTF-8 name", url.Values{"name": {"Ada \xff\xfe"}, "email": {"ada@example.org"}, "password": {"long enough password"}},
			"name", "Your name contains characters that cannot be used.", []string{`value="ada@example.org"`}},
		{"invalid UTF-8 email", url.Values{"name": {"Ada"}, "email": {"ad\xffa@example.org"}, "password": {"long enough password"}},
			"email", "Enter an email address like name@example.org.", []string{`value="Ada"`}},
		{"invalid UTF-8 password", url.Values{"name": {"Ada"}, "email": {"ada@example.org"}, "password": {"long enough \xff password"}},
			"password", "Your password contains characters that cannot be used.", []string{`value="Ada"`, `value="ada@example.org"`}},
		{"password too long", url.Values{"name": {"Ada"}, "email": {"ada@example.org"}, "password": {strings.Repeat("p", MaxPasswordBytes+1)}},
			"password", "This password is too long", []string{`value="Ada"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newAcctEnv(t)
			rec := env.post("/signup", tt.form)
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422; body:\n%s", rec.Code, rec.Body)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `aria-describedby="`+tt.field+`-error"`) && !strings.Contains(body, ` `+tt.field+`-error"`) {
				t.Errorf("field %s is not described by its error", tt.field)
			}
			if !strings.Contains(body, `id="`+tt.field+`-error"`) {
				t.Errorf("no error next to %s", tt.field)
			}
			if tt.wantText != "" && !strings.Contains(body, tt.wantText) {
				t.Errorf("body lacks %q", tt.wantText)
			}
			for _, k := range tt.keep {
				if !strings.Contains(body, k) {
					t.Errorf("body lacks %s: what was typed is lost", k)
				}
			}
			if pw := tt.form.Get("password"); strings.Contains(body, pw) {
				t.Error("the password is echoed back")
			}
			if acctSessionCookie(rec) != nil {
				t.Error("a session cookie was set")
			}
			if n := env.count(`SELECT count(*) FROM organisers`); n != 0 {
				t.Errorf("%d organisers stored, want 0", n)
			}
			if n := env.count(`SELECT count(*) FROM outbox`); n != 0 {
				t.Errorf("%d mails queued, want 0", n)
			}
			if n := env.count(`SELECT count(*) FROM organiser_signups`); n != 0 {
				t.Errorf("%d sign-ups stored, want 0", n)
			}
		})
	}
}

// Sign-up must not tell a stranger whether an address has an account: the
// answer to a taken address is the answer to a new one. The owner learns of
// the attempt by mail; the stranger gets neither an account nor a session.
func TestSignupTakenAddressAnswersTheSame(t *testing.T) {
	env := newAcctEnv(t)
	if _, err := env.acc.AddOrganiser(context.Background(), "Ada", "ada.lovelace@gmail.com", "first password!", false); err != nil {
		t.Fatal(err)
	}
	before := len(env.outbox())
	answer := func(email string) (int, string, []string, string) {
		rec := env.post("/signup", url.Values{"name": {"Somebody"}, "email": {email}, "password": {"second password"}})
		var cookies []string
		for _, c := range rec.Result().Cookies() {
			cookies = append(cookies, c.Name)
		}
		body := strings.ReplaceAll(rec.Body.String(), strings.ReplaceAll(email, "+", "&#43;"), "ADDRESS")
		return rec.Code, strings.ReplaceAll(body, email, "ADDRESS"), cookies, rec.Header().Get("Location")
	}
	// The same inbox: dots and +tags do not make another address at Gmail.
	takenCode, takenBody, takenCookies, takenLoc := answer("AdaLovelace+rally@googlemail.com")
	freeCode, freeBody, freeCookies, freeLoc := answer("grace.hopper@example.org")
	if takenCode != freeCode || takenLoc != freeLoc {
		t.Errorf("taken address: %d to %q; new address: %d to %q", takenCode, takenLoc, freeCode, freeLoc)
	}
	if takenBody != freeBody {
		t.Errorf("the pages differ:\n--- taken ---\n%s\n--- new ---\n%s", takenBody, freeBody)
	}
	if strings.Join(takenCookies, ",") != strings.Join(freeCookies, ",") || len(takenCookies) != 0 {
		t.Errorf("cookies set: taken %q, new %q; want none either way", takenCookies, freeCookies)
	}
	if strings.Contains(takenBody, "already") {
		t.Error("the page says the address is already used")
	}

	// The owner is told, at the address as their account holds it.
	mails := env.outbox()[before:]
	if len(mails) != 2 {
		t.Fatalf("%d mails, want 2 (a notice to the owner, a link to the new address)", len(mails))
	}
	notice := mails[0]
	if notice.To != "ada.lovelace@gmail.com" || notice.Kind != "organiser_signup_taken" ||
		!strings.Contains(notice.Text, "https://rally.example/password/forgot") || !strings.Contains(notice.Text, "https://rally.example/login") {
		t.Errorf("notice to %q kind %q:\n%s", notice.To, notice.Kind, notice.Text)
	}
	if strings.Contains(notice.Text, "/account/confirm/") {
		t.Error("the notice carries a link that opens an account")
	}
	if n := env.count(`SELECT count(*) FROM organisers`); n != 1 {
		t.Errorf("%d organisers, want 1", n)
	}
	if n := env.count(`SELECT count(*) FROM organiser_signups WHERE email_key = ?`, "adalovelace@gmail.com"); n != 0 {
		t.Errorf("%d sign-ups wait for the taken address, want 0", n)
	}
	if n := env.count(`SELECT count(*) FROM sessions`); n != 0 {
		t.Errorf("%d sessions, want 0", n)
	}
	// The owner's password is theirs still; the stranger's does not work.
	env.login("ada.lovelace@gmail.com", "first password!")
	if rec := env.post("/login", url.Values{"email": {"ada.lovelace@gmail.com"}, "password": {"second password"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("login with the stranger's password: %d, want 422", rec.Code)
	}

	// A script cannot fill the owner's inbox, nor a new address's.
	n := len(env.outbox())
	answer("ada.lovelace@gmail.com")
	answer("grace.hopper@example.org")
	if got := len(env.outbox()); got != n {
		t.Errorf("%d more mails for sign-ups repeated at once, want 0", got-n)
	}
	env.now = env.now.Add(signupNoticeGap)
	answer("ada.lovelace@gmail.com")
	answer("grace.hopper@example.org")
	if got := len(env.outbox()); got != n+2 {
		t.Errorf("%d more mails for sign-ups repeated later, want 2", got-n)
	}
}

// Two sign-ups for one address wait side by side; the first link used opens
// the account, and the other then opens nothing.
func TestSignupFirstLinkWins(t *testing.T) {
	env := newAcctEnv(t)
	env.post("/signup", url.Values{"name": {"Grace"}, "email": {"grace@example.org"}, "password": {"grace's password"}})
	first := env.confirmToken()
	env.now = env.now.Add(2 * mailGap)
	env.post("/signup", url.Values{"name": {"Mallory"}, "email": {"grace@example.org"}, "password": {"mallory's password"}})
	second := env.confirmToken()
	if first == second {
		t.Fatal("the second sign-up carries the first link")
	}
	if rec := env.post("/account/confirm/"+first, url.Values{"password": {"grace's password"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("first link: %d, want 303", rec.Code)
	}
	rec := env.post("/account/confirm/"+second, url.Values{"password": {"mallory's password"}})
	if rec.Code == http.StatusSeeOther || acctSessionCookie(rec) != nil {
		t.Errorf("second link after the first: %d with cookie %v; want no session", rec.Code, acctSessionCookie(rec))
	}
	env.login("grace@example.org", "grace's password")
	if rec := env.post("/login", url.Values{"email": {"grace@example.org"}, "password": {"mallory's password"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("login with the other sign-up's password: %d, want 422", rec.Code)
	}
}

// TestSignupLinkWantsThePassword: someone who signs up with another
// person's address cannot have that person open an account whose password
// they chose by pressing a button in a mail they did not ask for.
func TestSignupLinkWantsThePassword(t *testing.T) {
	env := newAcctEnv(t)
	env.post("/signup", url.Values{"name": {"Mallory"}, "email": {"heidi@example.org"}, "password": {"mallory's password"}})
	token := env.confirmToken()
	path := "/account/confirm/" + token
	if body := env.get(path).Body.String(); !strings.Contains(body, `name="password"`) {
		t.Fatalf("the link's page asks for no password:\n%s", body)
	}
	for _, pw := range []string{"", "heidi's guess"} {
		rec := env.post(path, url.Values{"password": {pw}})
		if rec.Code != http.StatusUnprocessableEntity || acctSessionCookie(rec) != nil {
			t.Fatalf("link with password %q: %d, cookie %v; want 422 and no session", pw, rec.Code, acctSessionCookie(rec))
		}
		if body := rec.Body.String(); !strings.Contains(body, "not the password chosen when signing up") {
			t.Errorf("link with password %q: the page does not say why:\n%s", pw, body)
		}
	}
	if rec := env.post("/login", url.Values{"email": {"heidi@example.org"}, "password": {"mallory's password"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("login after refused links: %d, want 422 (no account)", rec.Code)
	}
	rec := env.post(path, url.Values{"password": {"mallory's password"}})
	if rec.Code != http.StatusSeeOther || acctSessionCookie(rec) == nil {
		t.Fatalf("link with the sign-up's password: %d, want 303 with a session", rec.Code)
	}
}

func TestLogin(t *testing.T) {
	env := newAcctEnv(t)
	ctx := context.Background()
	if _, err := env.acc.AddOrganiser(ctx, "Ada", "ada@example.org", "correct horse battery", false); err != nil {
		t.Fatal(err)
	}

	if rec := env.get("/login"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `autocomplete="current-password"`) {
		t.Fatalf("login page: %d", rec.Code)
	}
	for _, tc := range []struct{ name, email, password string }{
		{"wrong password", "ada@example.org", "wrong horse battery"},
		{"unknown email", "bob@example.org", "correct horse battery"},
		{"not an email", "ada", "correct horse battery"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.post("/login", url.Values{"email": {tc.email}, "password": {tc.password}})
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", rec.Code)
			}
			body := rec.Body.String()
			if !strings.Contains(body, "This email address and password do not match an account.") {
				t.Error("no error message")
			}
			if !strings.Contains(body, `value="`+tc.email+`"`) {
				t.Error("the email typed is lost")
			}
			if tc.password != "" && strings.Contains(body, tc.password) {
				t.Error("the password is echoed back")
			}
			if acctSessionCookie(rec) != nil {
				t.Error("a session cookie was set")
			}
		})
	}

	// The address is matched by its key, however it is written.
	rec := env.post("/login", url.Values{"email": {"ADA@Example.org"}, "password": {"correct horse battery"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dashboard" {
		t.Fatalf("got %d to %q, want 303 to /dashboard", rec.Code, rec.Header().Get("Location"))
	}
	c := acctSessionCookie(rec)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v: want HttpOnly and SameSite=Lax", c)
	}
	if rec := env.get("/dashboard", c); rec.Code != http.StatusOK {
		t.Errorf("dashboard after login: %d, want 200", rec.Code)
	}
	if rec := env.get("/login?next=/campaigns/1", c); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/campaigns/1" {
		t.Errorf("login page when signed in: %d to %q, want 303 to next", rec.Code, rec.Header().Get("Location"))
	}
}

func TestLoginNext(t *testing.T) {
	env := newAcctEnv(t)
	if _, err := env.acc.AddOrganiser(context.Background(), "Ada", "ada@example.org", "correct horse battery", false); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ next, want string }{
		{"/campaigns/3/edit?tab=text", "/campaigns/3/edit?tab=text"},
		{"", "/dashboard"},
		{"//evil.com", "/dashboard"},
		{"//evil.com/path", "/dashboard"},
		{`/\evil.com`, "/dashboard"},
		{"https://evil.com/", "/dashboard"},
		{"evil.com", "/dashboard"},
		{"/\t/evil.com", "/dashboard"},
		{"/\n/evil.com", "/dashboard"},
		{"javascript:alert(1)", "/dashboard"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			rec := env.post("/login", url.Values{"email": {"ada@example.org"}, "password": {"correct horse battery"}, "next": {tt.next}})
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", rec.Code)
			}
			if got := rec.Header().Get("Location"); got != tt.want {
				t.Errorf("redirect to %q, want %q", got, tt.want)
			}
		})
	}
	// The login page carries a local next into its form, and drops another.
	if body := env.get("/login?next=" + url.QueryEscape("/campaigns/3")).Body.String(); !strings.Contains(body, `name="next" value="/campaigns/3"`) {
		t.Error("login form lost a local next")
	}
	if body := env.get("/login?next=" + url.QueryEscape("//evil.com")).Body.String(); strings.Contains(body, `name="next"`) {
		t.Error("login form carries next=//evil.com")
	}
}

func TestSessionRequiredForProtectedRoutes(t *testing.T) {
	env := newAcctEnv(t)
	rec := env.get("/dashboard?tab=causes")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?next=%2Fdashboard%3Ftab%3Dcauses" {
		t.Errorf("no cookie: %d to %q, want 303 to /login?next=…", rec.Code, rec.Header().Get("Location"))
	}

	garbage := &http.Cookie{Name: SessionCookie, Value: "not-a-token"}
	rec = env.get("/dashboard", garbage)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Errorf("garbage cookie: %d to %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
	}
	if c := acctSessionCookie(rec); c == nil || c.MaxAge >= 0 {
		t.Errorf("garbage cookie not cleared: %+v", c)
	}
	unknown, _ := NewToken()
	if rec := env.get("/dashboard", &http.Cookie{Name: SessionCookie, Value: unknown}); rec.Code != http.StatusSeeOther {
		t.Errorf("unknown session: %d, want 303", rec.Code)
	}

	c := env.signup("Ada", "ada@example.org", "correct horse battery")
	if rec := env.get("/dashboard", c); rec.Code != http.StatusOK {
		t.Fatalf("with cookie: %d, want 200", rec.Code)
	}
	if rec := env.get("/admin", c); rec.Code != http.StatusForbidden {
		t.Errorf("admin page as an organiser: %d, want 403", rec.Code)
	}
	if rec := env.get("/admin"); rec.Code != http.StatusSeeOther {
		t.Errorf("admin page signed out: %d, want 303 to login", rec.Code)
	}

	// Sessions last 30 days; a login then clears out the expired ones.
	env.now = env.now.Add(sessionTTL - time.Minute)
	if rec := env.get("/dashboard", c); rec.Code != http.StatusOK {
		t.Errorf("session just before expiry: %d, want 200", rec.Code)
	}
	env.now = env.now.Add(2 * time.Minute)
	if rec := env.get("/dashboard", c); rec.Code != http.StatusSeeOther {
		t.Errorf("expired session: %d, want 303", rec.Code)
	}
	env.login("ada@example.org", "correct horse battery")
	if n := env.count(`SELECT count(*) FROM sessions WHERE token_hash = ?`, notify.HashToken(c.Value)); n != 0 {
		t.Error("the expired session was not deleted at login")
	}
}

func TestLogoutEndsSession(t *testing.T) {
	env := newAcctEnv(t)
	c := env.signup("Ada", "ada@example.org", "correct horse battery")
	other := env.login("ada@example.org", "correct horse battery")

	rec := env.post("/logout", nil, c)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("logout: %d to %q, want 303 to /", rec.Code, rec.Header().Get("Location"))
	}
	if cleared := acctSessionCookie(rec); cleared == nil || cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Errorf("cookie not cleared: %+v", cleared)
	}
	if n := env.count(`SELECT count(*) FROM sessions WHERE token_hash = ?`, notify.HashToken(c.Value)); n != 0 {
		t.Error("the session row is still there")
	}
	if rec := env.get("/dashboard", c); rec.Code != http.StatusSeeOther {
		t.Errorf("old cookie after logout: %d, want 303", rec.Code)
	}
	if rec := env.get("/dashboard", other); rec.Code != http.StatusOK {
		t.Errorf("another device's session after logout: %d, want 200", rec.Code)
	}
	if rec := env.post("/logout", nil); rec.Code != http.StatusSeeOther {
		t.Errorf("logout without a session: %d, want 303", rec.Code)
	}
	if rec := env.get("/logout"); rec.Code == http.StatusSeeOther || rec.Code == http.StatusOK {
		t.Errorf("GET /logout: %d, want it not to log out", rec.Code)
	}
}

// Accounts made before sign-ups waited for their link may still be
// unconfirmed; their confirmation links work as they did.
func TestAccountConfirm(t *testing.T) {
	env := newAcctEnv(t)
	c := env.unconfirmed("Ada", "ada@example.org", "correct horse battery")
	env.post("/account/confirm-resend", nil, c)
	token := env.confirmToken()
	path := "/account/confirm/" + token

	rec := env.get(path)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `action="`+path+`"`) {
		t.Fatalf("confirm page: %d, want 200 with a form posting to %s; body:\n%s", rec.Code, path, rec.Body)
	}
	if env.organiserByEmail("ada@example.org").EmailConfirmed() {
		t.Fatal("GET confirmed the address: mail scanners would confirm it")
	}

	rec = env.post(path, nil, c)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dashboard" {
		t.Fatalf("confirm: %d to %q, want 303 to /dashboard", rec.Code, rec.Header().Get("Location"))
	}
	o := env.organiserByEmail("ada@example.org")
	if !o.EmailConfirmed() || !o.EmailConfirmedAt.Equal(env.now) {
		t.Fatalf("organiser %+v: want confirmed at %v", o, env.now)
	}
	if rec := env.get("/dashboard", c); rec.Code != http.StatusOK {
		t.Errorf("the session that confirmed: %d, want 200", rec.Code)
	}
	env.now = env.now.Add(time.Hour)
	if rec := env.post(path, nil); rec.Code != http.StatusSeeOther || acctSessionCookie(rec) != nil {
		t.Errorf("confirming again: %d, want 303 and no session", rec.Code)
	}
	if o2 := env.organiserByEmail("ada@example.org"); !o2.EmailConfirmedAt.Equal(*o.EmailConfirmedAt) {
		t.Errorf("confirming again moved the confirmation time to %v", o2.EmailConfirmedAt)
	}
	if rec := env.get(path); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Your email address is confirmed") {
		t.Errorf("confirm page once confirmed: %d", rec.Code)
	}
}

func TestAccountConfirmBadLinks(t *testing.T) {
	env := newAcctEnv(t)
	unknown, _ := NewToken()
	for _, token := range []string{"garbage", unknown, strings.Repeat("x", 500), "%ff%fe"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			rec := env.do(method, "/account/confirm/"+token, url.Values{})
			if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "This link does not work") {
				t.Errorf("%s %.20s: %d, want 404 with an explanation", method, token, rec.Code)
			}
		}
	}

	c := env.unconfirmed("Ada", "ada@example.org", "correct horse battery")
	env.post("/account/confirm-resend", nil, c)
	token := env.confirmToken()
	env.now = env.now.Add(emailTokenTTL)
	rec := env.get("/account/confirm/"+token, c)
	body := rec.Body.String()
	if rec.Code != http.StatusGone || !strings.Contains(body, "This link has expired") || !strings.Contains(body, `action="/account/confirm-resend"`) {
		t.Errorf("expired link, signed in: %d, want 410 offering a new link; body:\n%s", rec.Code, body)
	}
	rec = env.post("/account/confirm/"+token, nil)
	if rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), `href="/login`) {
		t.Errorf("expired link, signed out: %d, want 410 pointing to login", rec.Code)
	}
	if env.organiserByEmail("ada@example.org").EmailConfirmed() {
		t.Error("an expired link confirmed the address")
	}

	// A sign-up link too old opens nothing, and says to sign up again.
	env.post("/signup", url.Values{"name": {"Grace"}, "email": {"grace@example.org"}, "password": {"correct horse battery"}})
	token = env.confirmToken()
	env.now = env.now.Add(signupTTL)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec := env.do(method, "/account/confirm/"+token, url.Values{})
		if rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "This link has expired") || !strings.Contains(rec.Body.String(), `href="/signup"`) {
			t.Errorf("%s expired sign-up link: %d, want 410 pointing to sign-up", method, rec.Code)
		}
		if acctSessionCookie(rec) != nil {
			t.Errorf("%s expired sign-up link set a session cookie", method)
		}
	}
	if n := env.count(`SELECT count(*) FROM organisers WHERE email_key = 'grace@example.org'`); n != 0 {
		t.Error("an expired sign-up link made the account")
	}
}

func TestAccountConfirmResend(t *testing.T) {
	env := newAcctEnv(t)
	if rec := env.post("/account/confirm-resend", nil); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Errorf("resend signed out: %d to %q, want 303 to login", rec.Code, rec.Header().Get("Location"))
	}
	c := env.unconfirmed("Ada", "ada@example.org", "correct horse battery")
	env.post("/account/confirm-resend", nil, c)
	first := env.confirmToken()

	env.now = env.now.Add(2 * time.Minute)
	rec := env.post("/account/confirm-resend", nil, c)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "We have sent a new confirmation link to ada@example.org") {
		t.Fatalf("resend: %d; body:\n%s", rec.Code, rec.Body)
	}
	if n := len(env.outbox()); n != 2 {
		t.Fatalf("%d mails, want 2", n)
	}
	second := env.confirmToken()
	if second == first {
		t.Fatal("the new mail carries the old link")
	}

	// A second click at once sends nothing more.
	rec = env.post("/account/confirm-resend", nil, c)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "less than a minute ago") {
		t.Errorf("quick second resend: %d", rec.Code)
	}
	if n := len(env.outbox()); n != 2 {
		t.Errorf("%d mails after a quick second resend, want 2", n)
	}

	if rec := env.post("/account/confirm/"+second, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("confirm with the new link: %d", rec.Code)
	}
	env.now = env.now.Add(2 * time.Minute)
	if rec := env.post("/account/confirm-resend", nil, c); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dashboard" {
		t.Errorf("resend once confirmed: %d, want 303 to the dashboard", rec.Code)
	}
	if n := len(env.outbox()); n != 2 {
		t.Errorf("%d mails after resend once confirmed, want 2", n)
	}
}

func TestAddOrganiser(t *testing.T) {
	env := newAcctEnv(t)
	ctx := context.Background()
	admin, err := env.acc.AddOrganiser(ctx, "Root", "root@example.org", "correct horse battery", true)
	if err != nil {
		t.Fatal(err)
	}
	if !admin.Admin || !admin.EmailConfirmed() || admin.ID == 0 {
		t.Errorf("AddOrganiser(admin) = %+v: want an admin, confirmed", admin)
	}
	found, err := env.store.FindOrganiser(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !found.Admin || !found.EmailConfirmed() || found.Email != "root@example.org" || !found.CreatedAt.Equal(env.now) {
		t.Errorf("FindOrganiser = %+v", found)
	}
	plain, err := env.acc.AddOrganiser(ctx, "Plain", "plain@example.org", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Admin || !plain.EmailConfirmed() {
		t.Errorf("AddOrganiser = %+v: want not admin, confirmed", plain)
	}
	if n := env.count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("%d mails queued for command-line organisers, want 0", n)
	}

	c := env.login("root@example.org", "correct horse battery")
	if rec := env.get("/admin", c); rec.Code != http.StatusOK {
		t.Errorf("admin page as admin: %d, want 200", rec.Code)
	}
	c = env.login("plain@example.org", "correct horse battery")
	if rec := env.get("/admin", c); rec.Code != http.StatusForbidden {
		t.Errorf("admin page as organiser: %d, want 403", rec.Code)
	}

	_, err = env.acc.AddOrganiser(ctx, "Root again", "Root@Example.org", "another password", false)
	if !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate: %v, want ErrConflict", err)
	}
	_, err = env.acc.AddOrganiser(ctx, "", "x@example.org", "short", false)
	var invalid *InvalidOrganiserError
	if !errors.As(err, &invalid) || !invalid.Fields.Has("name") || !invalid.Fields.Has("password") {
		t.Fatalf("invalid input: %v, want an InvalidOrganiserError for name and password", err)
	}
	if !strings.Contains(err.Error(), "password: Use at least 10 characters.") {
		t.Errorf("error %q does not read well in a terminal", err)
	}
	if _, err := env.store.FindOrganiser(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindOrganiser(999): %v, want ErrNotFound", err)
	}
}

func TestOrganiserInputValidate(t *testing.T) {
	tests := []struct {
		name   string
		in     OrganiserInput
		fields []string
	}{
		{"valid", OrganiserInput{"  Ada  ", "Ada@Example.ORG", "ten chars!"}, nil},
		{"unicode password counts characters", OrganiserInput{"Zoé", "zoe@example.fr", "éééééééééé"}, nil},
		{"nine characters", OrganiserInput{"Ada", "ada@example.org", "nine char"}, []string{"password"}},
		{"control character in name", OrganiserInput{"Ada\x00", "ada@example.org", "long enough"}, []string{"name"}},
		{"everything wrong", OrganiserInput{"", "nope", ""}, []string{"name", "email", "password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			errs := in.Validate()
			if len(errs) != len(tt.fields) {
				t.Errorf("errors %v, want fields %v", errs, tt.fields)
			}
			for _, f := range tt.fields {
				if !errs.Has(f) {
					t.Errorf("no error for %s", f)
				}
			}
		})
	}
	in := OrganiserInput{"  Ada  ", "Ada@Example.ORG", "ten chars!"}
	in.Validate()
	if in.Name != "Ada" || in.Email != "Ada@example.org" {
		t.Errorf("normalised to %q %q, want \"Ada\" \"Ada@example.org\"", in.Name, in.Email)
	}
}

func TestPasswordHash(t *testing.T) {
	production := argon2Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	hash, err := hashPasswordWith(production, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(hash) {
		t.Errorf("hash %q is not in PHC format", hash)
	}
	again, _ := hashPasswordWith(production, "correct horse battery")
	if again == hash {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if got, err := checkPassword(hash, pw); err != nil || got != want {
			t.Errorf("checkPassword(%q) = %v, %v; want %v", pw, got, err, want)
		}
	}
	// The costs are read from the hash, not from today's settings.
	if !passwordNeedsRehash(hash) {
		t.Error("a hash with other costs than the current ones does not need a rehash")
	}
	current, _ := hashPassword("x")
	if passwordNeedsRehash(current) {
		t.Error("a hash with the current costs needs a rehash")
	}

	parts := strings.Split(hash, "$")
	for name, bad := range map[string]string{
		"empty":        "",
		"bcrypt":       "$2a$10$abcdefghijklmnopqrstuv",
		"argon2i":      strings.Replace(hash, "argon2id", "argon2i", 1),
		"version":      strings.Replace(hash, "v=19", "v=16", 1),
		"huge memory":  strings.Replace(hash, "m=19456", "m=99999999", 1),
		"zero time":    strings.Replace(hash, "t=2", "t=0", 1),
		"missing p":    strings.Replace(hash, ",p=1", "", 1),
		"bad salt":     strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"),
		"short key":    strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra fields": hash + "$x",
	} {
		if ok, err := checkPassword(bad, "correct horse battery"); ok || err == nil {
			t.Errorf("%s: checkPassword = %v, %v; want an error", name, ok, err)
		}
	}
}

func TestLoginUpgradesPasswordHash(t *testing.T) {
	env := newAcctEnv(t)
	o, err := env.acc.AddOrganiser(context.Background(), "Ada", "ada@example.org", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	saved := passwordParams
	t.Cleanup(func() { passwordParams = saved })
	passwordParams.Time = 2

	env.login("ada@example.org", "correct horse battery")
	var hash string
	if err := env.w.QueryRow(`SELECT password_hash FROM organisers WHERE id = ?`, o.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hash, ",t=2,") {
		t.Errorf("hash %q was not upgraded to the current costs", hash)
	}
	env.login("ada@example.org", "correct horse battery")
}

func TestAccountPagesTranslated(t *testing.T) {
	env := newAcctEnv(t)
	c := env.unconfirmed("Ada", "ada@example.org", "correct horse battery")
	env.post("/account/confirm-resend", nil, c)
	token := env.confirmToken()
	env.post("/signup", url.Values{"name": {"Grace"}, "email": {"grace@example.org"}, "password": {"correct horse battery"}})
	signupToken := env.confirmToken()
	env.post("/login/link", url.Values{"email": {"ada@example.org"}})
	loginToken := env.linkToken("login/link")
	env.post("/password/forgot", url.Values{"email": {"ada@example.org"}})
	resetToken := env.linkToken("password/reset")
	env.now = env.now.Add(2 * time.Minute)
	untranslated := regexp.MustCompile(`\b(Account|FormErr)[A-Z][A-Za-z]+`)
	for _, lang := range []string{"en", "fr"} {
		q := "?lang=" + lang
		pages := map[string]*httptest.ResponseRecorder{
			"signup":           env.get("/signup" + q),
			"signup errors":    env.post("/signup"+q, url.Values{"name": {"\x01"}, "email": {"x"}, "password": {"x"}}),
			"signup taken":     env.post("/signup"+q, url.Values{"name": {"A"}, "email": {"ada@example.org"}, "password": {"long enough password"}}),
			"login":            env.get("/login" + q),
			"login error":      env.post("/login"+q, url.Values{"email": {"ada@example.org"}, "password": {"x"}}),
			"confirm":          env.get("/account/confirm/" + token + q),
			"confirm sign-up":  env.get("/account/confirm/" + signupToken + q),
			"confirm unknown":  env.get("/account/confirm/x"+q, c),
			"resent":           env.post("/account/confirm-resend"+q, nil, c),
			"login link":       env.get("/login/link" + q),
			"login link error": env.post("/login/link"+q, url.Values{"email": {"nope"}}),
			"login link sent":  env.post("/login/link"+q, url.Values{"email": {"nobody@example.org"}}),
			"login link use":   env.get("/login/link/" + loginToken + q),
			"login link bad":   env.get("/login/link/x" + q),
			"forgot":           env.get("/password/forgot" + q),
			"forgot sent":      env.post("/password/forgot"+q, url.Values{"email": {"nobody@example.org"}}),
			"reset":            env.get("/password/reset/" + resetToken + q),
			"reset error":      env.post("/password/reset/"+resetToken+q, url.Values{"password": {"short"}}),
			"reset bad":        env.get("/password/reset/x" + q),
			"account":          env.get("/account"+q, c),
			"account done":     env.get("/account?done=password&lang="+lang, c),
			"account error":    env.post("/account/password"+q, url.Values{"current_password": {"x"}, "new_password": {"y"}}, c),
		}
		for name, rec := range pages {
			body := rec.Body.String()
			if m := untranslated.FindString(body); m != "" {
				t.Errorf("%s (%s): untranslated %s", name, lang, m)
			}
			if !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("%s (%s): page not in %s (status %d)", name, lang, lang, rec.Code)
			}
		}
	}
	env.now = env.now.Add(2 * time.Minute)
	env.post("/account/confirm-resend?lang=fr", nil, c)
	env.post("/login/link?lang=fr", url.Values{"email": {"ada@example.org"}})
	env.post("/password/forgot?lang=fr", url.Values{"email": {"ada@example.org"}})
	if rec := env.post("/password/reset/"+env.linkToken("password/reset")+"?lang=fr", url.Values{"password": {"a new long password"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", rec.Code, rec.Body)
	}
	env.now = env.now.Add(signupNoticeGap)
	env.post("/signup?lang=fr", url.Values{"name": {"A"}, "email": {"ada@example.org"}, "password": {"long enough password"}})
	env.post("/signup?lang=fr", url.Values{"name": {"A"}, "email": {"new@example.org"}, "password": {"long enough password"}})
	for _, kind := range []string{"organiser_confirm", "organiser_login_link", "organiser_password_reset", "organiser_signup_taken",
		"organiser_signup", "organiser_password_changed"} {
		m := env.lastMail(kind)
		if m.Lang != "fr" || untranslated.MatchString(m.Text+m.HTML+m.Subject) {
			t.Errorf("%s mail in %s: %s\n%s", kind, m.Lang, m.Subject, m.Text)
		}
	}
}

func TestAccountCataloguesMatch(t *testing.T) {
	keys := func(lang string) map[string]bool {
		b, err := os.ReadFile("../templates/locales/accounts." + lang + ".toml")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^(\w+) = "(.*)"$`).FindAllStringSubmatch(string(b), -1) {
			if !strings.HasPrefix(m[1], "Account") || strings.TrimSpace(m[2]) == "" {
				t.Errorf("%s: key %s must start with Account and have text", lang, m[1])
			}
			out[m[1]] = true
		}
		return out
	}
	en, fr := keys("en"), keys("fr")
	for k := range en {
		if !fr[k] {
			t.Errorf("%s has no French text", k)
		}
	}
	for k := range fr {
		if !en[k] {
			t.Errorf("%s has no English text", k)
		}
	}
}
