package campaigns

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/notify"
)

// loginFrom posts the login form from the client address ip.
func (env *acctEnv) loginFrom(ip, email, password string) int {
	env.t.Helper()
	return env.doFrom(ip, http.MethodPost, "/login", url.Values{"email": {email}, "password": {password}}).Code
}

func newAcctEnvWith(t *testing.T, emails ...string) *acctEnv {
	t.Helper()
	env := newAcctEnv(t)
	for _, email := range emails {
		if _, err := env.acc.AddOrganiser(context.Background(), "Someone", email, "correct horse battery", false); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// A stranger failing to log in as an organiser, from their own network, must
// not stop the organiser logging in from theirs.
func TestLoginFailuresElsewhereDoNotLockOutTheOwner(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org")
	const stranger, owner = "203.0.113.66", "198.51.100.7"
	for i := range 3 * loginPairMaxFailures {
		env.now = env.now.Add(time.Second)
		code := env.loginFrom(stranger, "ada@example.org", fmt.Sprintf("guess %d", i))
		if want := http.StatusUnprocessableEntity; i >= loginPairMaxFailures {
			want = http.StatusTooManyRequests
			if code != want {
				t.Fatalf("stranger's try %d: %d, want %d", i+1, code, want)
			}
		} else if code != want {
			t.Fatalf("stranger's try %d: %d, want %d", i+1, code, want)
		}
	}
	// The stranger's network is refused even the right password, however
	// the address is written...
	rec := env.doFrom(stranger, http.MethodPost, "/login", url.Values{"email": {"Ada+x@EXAMPLE.org"}, "password": {"correct horse battery"}})
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "Too many failed attempts") ||
		!strings.Contains(rec.Body.String(), `href="/login/link"`) {
		t.Errorf("right password from the stranger's network: %d, want 429 offering a sign-in link", rec.Code)
	}
	if acctSessionCookie(rec) != nil {
		t.Error("a refused login set a session cookie")
	}
	// ...but the owner, elsewhere, logs in.
	rec = env.doFrom(owner, http.MethodPost, "/login", url.Values{"email": {"ada@example.org"}, "password": {"correct horse battery"}})
	if rec.Code != http.StatusSeeOther || acctSessionCookie(rec) == nil {
		t.Fatalf("owner from their network: %d, want 303 with a session", rec.Code)
	}
	// A few typos of the owner's own are no bar either.
	for range 3 {
		env.loginFrom(owner, "ada@example.org", "correct horse batery")
	}
	if code := env.loginFrom(owner, "ada@example.org", "correct horse battery"); code != http.StatusSeeOther {
		t.Errorf("owner after typos: %d, want 303", code)
	}
	// Once the stranger's failures are older than the window, their network
	// may try again.
	env.now = env.now.Add(loginWindow)
	if code := env.loginFrom(stranger, "ada@example.org", "correct horse battery"); code != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303", code)
	}
}

// One network failing at many addresses is refused at all of them; other
// networks are not.
func TestLoginFailuresSlowTheirNetwork(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org", "bob@example.org")
	const sprayer = "203.0.113.66"
	for i := range loginNetMaxFailures {
		env.now = env.now.Add(time.Second)
		if code := env.loginFrom(sprayer, fmt.Sprintf("user%d@example.org", i), "password123"); code != http.StatusUnprocessableEntity {
			t.Fatalf("try %d: %d, want 422", i+1, code)
		}
	}
	if code := env.loginFrom(sprayer, "bob@example.org", "correct horse battery"); code != http.StatusTooManyRequests {
		t.Errorf("a right password from the spraying network: %d, want 429", code)
	}
	if code := env.loginFrom(sprayer, "not an address", "x"); code != http.StatusTooManyRequests {
		t.Errorf("anything from the spraying network: %d, want 429", code)
	}
	if code := env.loginFrom("198.51.100.7", "bob@example.org", "correct horse battery"); code != http.StatusSeeOther {
		t.Errorf("another network: %d, want 303", code)
	}
}

// IPv6 clients are counted by their /64: a phone or a household gets a whole
// one, and could otherwise take a new address for every guess.
func TestLoginCountsIPv6ByNetwork(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org")
	for i := range loginPairMaxFailures {
		ip := fmt.Sprintf("2001:db8:1:2::%x", i+1)
		if code := env.loginFrom(ip, "ada@example.org", "guess"); code != http.StatusUnprocessableEntity {
			t.Fatalf("try %d: %d, want 422", i+1, code)
		}
	}
	if code := env.loginFrom("2001:db8:1:2:aaaa::1", "ada@example.org", "correct horse battery"); code != http.StatusTooManyRequests {
		t.Errorf("same /64: %d, want 429", code)
	}
	if code := env.loginFrom("2001:db8:1:3::1", "ada@example.org", "correct horse battery"); code != http.StatusSeeOther {
		t.Errorf("another /64: %d, want 303", code)
	}
}

// Guessing at one address from many networks is slowed, never refused: the
// owner still gets in, only later.
func TestLoginSpreadGuessingOnlySlows(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org", "bob@example.org")
	for i := range 3 * loginAddrSlowAfter {
		env.now = env.now.Add(time.Second)
		ip := fmt.Sprintf("203.0.113.%d", i%100+1)
		if code := env.loginFrom(ip, "ada@example.org", "guess"); code != http.StatusUnprocessableEntity {
			t.Fatalf("guess %d from %s: %d, want 422", i+1, ip, code)
		}
	}
	env.waited = nil
	if code := env.loginFrom("198.51.100.7", "ada@example.org", "correct horse battery"); code != http.StatusSeeOther {
		t.Fatalf("owner during spread guessing: %d, want 303", code)
	}
	if len(env.waited) != 1 || env.waited[0] <= 0 || env.waited[0] > loginAddrMaxDelay {
		t.Errorf("waits %v: want one wait of at most %v", env.waited, loginAddrMaxDelay)
	}
	env.waited = nil
	if code := env.loginFrom("198.51.100.7", "bob@example.org", "correct horse battery"); code != http.StatusSeeOther || len(env.waited) != 1 || env.waited[0] != 0 {
		t.Errorf("another account: %d after %v, want 303 at once", code, env.waited)
	}
}

func TestLoginThrottleForgetsIdleKeys(t *testing.T) {
	th := newLoginThrottle(3, time.Minute)
	th.sweepAt, th.minSweep = 5, 5
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		th.fail("k"+string(rune('a'+i)), now)
	}
	th.fail("late", now.Add(2*time.Minute))
	if len(th.failures) != 1 {
		t.Errorf("%d keys tracked, want 1 after a sweep", len(th.failures))
	}
}

var loginLinkRE = regexp.MustCompile(`https://rally\.example/login/link/([A-Za-z0-9_-]{43})`)

func TestLoginLink(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org")
	if body := env.get("/login").Body.String(); !strings.Contains(body, `href="/login/link"`) {
		t.Fatal("the login page does not offer a sign-in link")
	}
	if rec := env.get("/login/link"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `action="/login/link"`) {
		t.Fatalf("request page: %d", rec.Code)
	}

	// The answer is the same whether or not the address has an account.
	known := env.post("/login/link", url.Values{"email": {"Ada@Example.org"}})
	unknown := env.post("/login/link", url.Values{"email": {"nobody@example.org"}})
	if known.Code != http.StatusOK || unknown.Code != known.Code {
		t.Fatalf("known %d, unknown %d: want 200 both", known.Code, unknown.Code)
	}
	if a, b := strings.ReplaceAll(known.Body.String(), "Ada@example.org", "X"), strings.ReplaceAll(unknown.Body.String(), "nobody@example.org", "X"); a != b {
		t.Errorf("the pages differ:\n%s\n---\n%s", a, b)
	}
	if acctSessionCookie(known) != nil || acctSessionCookie(unknown) != nil {
		t.Error("asking for a link set a session cookie")
	}
	mails := env.outbox()
	if len(mails) != 1 || mails[0].To != "ada@example.org" || mails[0].Kind != "organiser_login_link" {
		t.Fatalf("mails %+v: want one sign-in link to ada@example.org", mails)
	}
	if !strings.Contains(mails[0].Text, "The link works once, for 15 minutes.") {
		t.Errorf("mail text:\n%s", mails[0].Text)
	}
	m := loginLinkRE.FindStringSubmatch(mails[0].Text)
	if m == nil || !strings.Contains(mails[0].HTML, m[0]) {
		t.Fatalf("no sign-in link in both parts:\n%s", mails[0].Text)
	}
	token, path := m[1], "/login/link/"+m[1]
	if n := env.count(`SELECT count(*) FROM organiser_link_tokens WHERE token_hash = ? AND kind = 'login'`, notify.HashToken(token)); n != 1 {
		t.Errorf("links holding the token's hash: %d, want 1", n)
	}
	if n := env.count(`SELECT count(*) FROM organiser_link_tokens WHERE token_hash = ?`, token); n != 0 {
		t.Error("the raw token is stored")
	}

	// Mail scanners open links: GET shows a button and signs nobody in.
	rec := env.get(path)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `action="`+path+`"`) || acctSessionCookie(rec) != nil {
		t.Fatalf("link page: %d, want 200 with a button and no session", rec.Code)
	}
	if n := env.count(`SELECT count(*) FROM sessions`); n != 0 {
		t.Fatalf("%d sessions after opening the link, want 0", n)
	}
	rec = env.post(path, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dashboard" {
		t.Fatalf("using the link: %d to %q, want 303 to /dashboard", rec.Code, rec.Header().Get("Location"))
	}
	c := acctSessionCookie(rec)
	if c == nil || !c.HttpOnly {
		t.Fatalf("cookie %+v", c)
	}
	if rec := env.get("/dashboard", c); rec.Code != http.StatusOK {
		t.Errorf("dashboard after the link: %d, want 200", rec.Code)
	}

	// Once only.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec := env.do(method, path, url.Values{})
		if rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "This link has already been used") || acctSessionCookie(rec) != nil {
			t.Errorf("%s a used link: %d, want 410 saying it was used, no session", method, rec.Code)
		}
	}

	// A second request at once sends nothing: an inbox cannot be flooded.
	env.post("/login/link", url.Values{"email": {"ada@example.org"}})
	if n := len(env.outbox()); n != 1 {
		t.Errorf("%d mails after a quick second request, want 1", n)
	}

	// A link left unused past 15 minutes is dead.
	env.now = env.now.Add(mailGap)
	env.post("/login/link", url.Values{"email": {"ada@example.org"}})
	late := loginLinkRE.FindStringSubmatch(env.lastMail("organiser_login_link").Text)[1]
	if late == token {
		t.Fatal("the new mail carries the old link")
	}
	env.now = env.now.Add(loginLinkTTL)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec := env.do(method, "/login/link/"+late, url.Values{})
		if rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "This link has expired") || acctSessionCookie(rec) != nil {
			t.Errorf("%s an expired link: %d, want 410 saying it expired, no session", method, rec.Code)
		}
	}

	// A reset link is no sign-in link, and nonsense is not found.
	env.post("/password/forgot", url.Values{"email": {"ada@example.org"}})
	for _, bad := range []string{"x", strings.Repeat("a", 43), env.linkToken("password/reset")} {
		if rec := env.post("/login/link/"+bad, nil); rec.Code != http.StatusNotFound || acctSessionCookie(rec) != nil {
			t.Errorf("link %q: %d, want 404", bad, rec.Code)
		}
	}
}

func TestLoginLinkRequestValidation(t *testing.T) {
	env := newAcctEnv(t)
	for _, email := range []string{"", "not an address", "a@\xff.org"} {
		rec := env.post("/login/link", url.Values{"email": {email}})
		body := rec.Body.String()
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="email-error"`) || !strings.Contains(body, `aria-describedby="email-error"`) {
			t.Errorf("email %q: %d, want 422 with the error by the field", email, rec.Code)
		}
	}
	if n := env.count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("%d mails, want 0", n)
	}
}
