package campaigns

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/notify"
)

// sessionID returns the id of the session a cookie holds.
func (env *acctEnv) sessionID(c *http.Cookie) int64 {
	env.t.Helper()
	var id int64
	if err := env.w.QueryRow(`SELECT id FROM sessions WHERE token_hash = ?`, notify.HashToken(c.Value)).Scan(&id); err != nil {
		env.t.Fatalf("session of cookie: %v", err)
	}
	return id
}

func (env *acctEnv) signedIn(c *http.Cookie) bool {
	env.t.Helper()
	return env.get("/dashboard", c).Code == http.StatusOK
}

func TestChangePassword(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org")
	here := env.login("ada@example.org", "correct horse battery")
	other := env.login("ada@example.org", "correct horse battery")
	if rec := env.post("/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"a brand new password"}}); rec.Code != http.StatusSeeOther ||
		!strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Fatalf("signed out: %d to %q, want 303 to login", rec.Code, rec.Header().Get("Location"))
	}

	tests := []struct {
		name, current, next, field, message string
	}{
		{"wrong current password", "wrong horse battery", "a brand new password", "current_password", "This is not your current password."},
		{"no current password", "", "a brand new password", "current_password", "This is not your current password."},
		{"new password too short", "correct horse battery", "short", "new_password", "Use at least 10 characters."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.post("/account/password", url.Values{"current_password": {tt.current}, "new_password": {tt.next}}, here)
			body := rec.Body.String()
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+tt.field+`-error"`) || !strings.Contains(body, tt.message) {
				t.Fatalf("%d, want 422 with %q by %s", rec.Code, tt.message, tt.field)
			}
			if !strings.Contains(body, `aria-describedby="`+tt.field+`-error"`) && !strings.Contains(body, ` `+tt.field+`-error"`) {
				t.Errorf("%s is not described by its error", tt.field)
			}
			if tt.current != "" && strings.Contains(body, tt.current) || strings.Contains(body, tt.next) {
				t.Error("a password is echoed back")
			}
			if !env.signedIn(other) || !env.signedIn(here) {
				t.Error("a refused change ended a session")
			}
		})
	}
	env.login("ada@example.org", "correct horse battery")

	rec := env.post("/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"a brand new password"}}, here)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account?done=password" {
		t.Fatalf("change: %d to %q, want 303 to the account page", rec.Code, rec.Header().Get("Location"))
	}
	if !env.signedIn(here) {
		t.Error("the session that changed the password was ended")
	}
	if env.signedIn(other) {
		t.Error("another session survived the change")
	}
	if rec := env.get("/account?done=password", here); !strings.Contains(rec.Body.String(), "Your password is changed.") {
		t.Error("the account page does not say the password changed")
	}
	if code := env.loginFrom("198.51.100.7", "ada@example.org", "correct horse battery"); code != http.StatusUnprocessableEntity {
		t.Errorf("old password: %d, want 422", code)
	}
	env.login("ada@example.org", "a brand new password")
	if m := env.lastMail("organiser_password_changed"); m.To != "ada@example.org" {
		t.Errorf("password-changed mail to %q", m.To)
	}
}

// Guessing the current password from a stolen session is refused like
// guessing at the login form.
func TestChangePasswordThrottled(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org")
	c := env.login("ada@example.org", "correct horse battery")
	for range loginPairMaxFailures {
		env.post("/account/password", url.Values{"current_password": {"guess"}, "new_password": {"a brand new password"}}, c)
	}
	rec := env.post("/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"a brand new password"}}, c)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "Too many wrong passwords") {
		t.Errorf("after %d wrong passwords: %d, want 429", loginPairMaxFailures, rec.Code)
	}
	if code := env.loginFrom("198.51.100.7", "ada@example.org", "correct horse battery"); code != http.StatusSeeOther {
		t.Errorf("login from elsewhere: %d, want 303", code)
	}
}

func TestAccountSessions(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org", "bob@example.org")
	laptop := env.login("ada@example.org", "correct horse battery")
	env.ip, env.ua = "2001:db8:abcd:12::1", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
	env.now = env.now.Add(time.Hour)
	phone := env.login("ada@example.org", "correct horse battery")
	env.ip, env.ua = "192.0.2.1", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	bob := env.login("bob@example.org", "correct horse battery")
	if rec := env.get("/account"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Fatalf("account page signed out: %d, want 303 to login", rec.Code)
	}

	// The phone looks; the laptop was last used an hour ago.
	rec := env.get("/account", phone)
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("account page: %d", rec.Code)
	}
	for _, want := range []string{"Firefox on Linux", "Chrome on Android", "192.0.2.0/24", "2001:db8:abcd::/48", "This device",
		"25 November 2026", "1 hour ago", `action="/account/sessions/` + strconv.FormatInt(env.sessionID(laptop), 10) + `/end"`,
		`action="/account/logout-everywhere"`, `action="/account/password"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the account page lacks %q", want)
		}
	}
	if strings.Contains(body, "192.0.2.1") || strings.Contains(body, "2001:db8:abcd:12::1") {
		t.Error("the account page shows a whole IP address")
	}
	if strings.Contains(body, "bob@example.org") || strings.Contains(body, `/account/sessions/`+strconv.FormatInt(env.sessionID(bob), 10)+`/end`) {
		t.Error("the account page lists another organiser's session")
	}
	if strings.Count(body, `/end"`) != 2 {
		t.Errorf("%d sessions listed, want 2", strings.Count(body, `/end"`))
	}

	// Using a session moves its "last active", a few minutes at a time.
	env.now = env.now.Add(10 * time.Minute)
	env.get("/dashboard", laptop)
	var seen time.Time
	if err := env.w.QueryRow(`SELECT last_seen_at FROM sessions WHERE id = ?`, env.sessionID(laptop)).Scan(&seen); err != nil || !seen.Equal(env.now) {
		t.Errorf("last seen %v (%v), want %v", seen, err, env.now)
	}

	// Bob cannot end Ada's session, whatever id he tries.
	phoneID := env.sessionID(phone)
	for _, id := range []string{strconv.FormatInt(phoneID, 10), "0", "-1", "x", "99999999999999999999"} {
		if rec := env.post("/account/sessions/"+id+"/end", nil, bob); rec.Code != http.StatusNotFound {
			t.Errorf("bob ending session %s: %d, want 404", id, rec.Code)
		}
	}
	if !env.signedIn(phone) || !env.signedIn(bob) {
		t.Fatal("a refused end ended a session")
	}

	rec = env.post("/account/sessions/"+strconv.FormatInt(phoneID, 10)+"/end", nil, laptop)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account?done=ended" {
		t.Fatalf("ending the phone's session: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if env.signedIn(phone) || !env.signedIn(laptop) {
		t.Error("ending the phone's session: want the phone out, the laptop in")
	}
	if rec := env.post("/account/sessions/"+strconv.FormatInt(phoneID, 10)+"/end", nil, laptop); rec.Code != http.StatusNotFound {
		t.Errorf("ending it again: %d, want 404", rec.Code)
	}

	// Ending this device's own session logs out here.
	rec = env.post("/account/sessions/"+strconv.FormatInt(env.sessionID(laptop), 10)+"/end", nil, laptop)
	if c := acctSessionCookie(rec); rec.Code != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
		t.Errorf("ending this session: %d, cookie %+v; want 303 and the cookie cleared", rec.Code, c)
	}
	if env.signedIn(laptop) {
		t.Error("the ended session still works")
	}
}

func TestLogoutEverywhere(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org", "bob@example.org")
	ada := []*http.Cookie{env.login("ada@example.org", "correct horse battery"), env.login("ada@example.org", "correct horse battery"),
		env.login("ada@example.org", "correct horse battery")}
	bob := env.login("bob@example.org", "correct horse battery")
	if rec := env.post("/account/logout-everywhere", nil); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Fatalf("signed out: %d, want 303 to login", rec.Code)
	}
	rec := env.post("/account/logout-everywhere", nil, ada[1])
	if c := acctSessionCookie(rec); rec.Code != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
		t.Fatalf("log out everywhere: %d, cookie %+v; want 303 and the cookie cleared", rec.Code, c)
	}
	for i, c := range ada {
		if env.signedIn(c) {
			t.Errorf("Ada's session %d survived", i+1)
		}
	}
	if !env.signedIn(bob) {
		t.Error("Bob was logged out too")
	}
	if n := env.count(`SELECT count(*) FROM sessions`); n != 1 {
		t.Errorf("%d sessions left, want Bob's only", n)
	}
}

func TestDeviceOf(t *testing.T) {
	for ua, want := range map[string][2]string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1": {"Safari", "iPhone"},
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0":           {"Edge", "Windows"},
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36":                   {"Chrome", "macOS"},
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0":                                                     {"Firefox", "macOS"},
		"curl/8.5.0": {"", ""},
		"":           {"", ""},
	} {
		if b, o := deviceOf(ua); b != want[0] || o != want[1] {
			t.Errorf("deviceOf(%.40q) = %q, %q; want %q, %q", ua, b, o, want[0], want[1])
		}
	}
}
