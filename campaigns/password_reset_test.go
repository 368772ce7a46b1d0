package campaigns

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rallyhq/rally/notify"
)

func TestPasswordReset(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org")
	laptop := env.login("ada@example.org", "correct horse battery")
	phone := env.login("ada@example.org", "correct horse battery")
	if body := env.get("/login").Body.String(); !strings.Contains(body, `href="/password/forgot"`) || !strings.Contains(body, "Forgot your password?") {
		t.Fatal("the login page does not offer a reset")
	}

	// Asking answers the same whether or not the address has an account.
	known := env.post("/password/forgot", url.Values{"email": {"ada@example.org"}})
	unknown := env.post("/password/forgot", url.Values{"email": {"bob@example.org"}})
	if known.Code != http.StatusOK || unknown.Code != known.Code {
		t.Fatalf("known %d, unknown %d: want 200 both", known.Code, unknown.Code)
	}
	if a, b := strings.ReplaceAll(known.Body.String(), "ada@", "X@"), strings.ReplaceAll(unknown.Body.String(), "bob@", "X@"); a != b {
		t.Errorf("the pages differ:\n%s\n---\n%s", a, b)
	}
	mails := env.outbox()
	if len(mails) != 1 || mails[0].To != "ada@example.org" || mails[0].Kind != "organiser_password_reset" ||
		!strings.Contains(mails[0].Text, "The link works once, for 60 minutes.") {
		t.Fatalf("mails %+v: want one reset link to ada@example.org", mails)
	}
	token := env.linkToken("password/reset")
	path := "/password/reset/" + token
	if n := env.count(`SELECT count(*) FROM organiser_link_tokens WHERE token_hash = ? AND kind = 'reset'`, notify.HashToken(token)); n != 1 {
		t.Errorf("links holding the token's hash: %d, want 1", n)
	}

	// The link shows a form; a bad password comes back with its error and
	// leaves the link usable.
	rec := env.get(path)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `action="`+path+`"`) || !strings.Contains(rec.Body.String(), `autocomplete="new-password"`) {
		t.Fatalf("reset page: %d, want 200 with the form", rec.Code)
	}
	rec = env.post(path, url.Values{"password": {"short"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="password-error"`) ||
		!strings.Contains(rec.Body.String(), "Use at least 10 characters.") || acctSessionCookie(rec) != nil {
		t.Fatalf("short password: %d, want 422 with the error by the field", rec.Code)
	}
	if rec := env.get("/dashboard", laptop); rec.Code != http.StatusOK {
		t.Fatal("a refused reset ended a session")
	}

	rec = env.post(path, url.Values{"password": {"a brand new password"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account?done=reset" {
		t.Fatalf("reset: %d to %q, want 303 to the account page", rec.Code, rec.Header().Get("Location"))
	}
	c := acctSessionCookie(rec)
	if c == nil || c.Value == "" {
		t.Fatal("no session after the reset")
	}
	if rec := env.get("/account?done=reset", c); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Your new password is saved") {
		t.Errorf("account page after the reset: %d", rec.Code)
	}
	// Whoever knew the old password is out.
	for name, old := range map[string]*http.Cookie{"laptop": laptop, "phone": phone} {
		if rec := env.get("/dashboard", old); rec.Code != http.StatusSeeOther {
			t.Errorf("%s's session after the reset: %d, want 303 to login", name, rec.Code)
		}
	}
	if code := env.loginFrom("198.51.100.7", "ada@example.org", "correct horse battery"); code != http.StatusUnprocessableEntity {
		t.Errorf("old password: %d, want 422", code)
	}
	env.login("ada@example.org", "a brand new password")
	changed := env.lastMail("organiser_password_changed")
	if changed.To != "ada@example.org" || !strings.Contains(changed.Text, "https://rally.example/password/forgot") {
		t.Errorf("password-changed mail to %q:\n%s", changed.To, changed.Text)
	}

	// The link worked once.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec := env.do(method, path, url.Values{"password": {"yet another password"}})
		if rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "This link has already been used") || acctSessionCookie(rec) != nil {
			t.Errorf("%s the used link: %d, want 410", method, rec.Code)
		}
	}
	env.login("ada@example.org", "a brand new password")
}

func TestPasswordResetExpires(t *testing.T) {
	env := newAcctEnvWith(t, "ada@example.org")
	env.post("/password/forgot", url.Values{"email": {"ada@example.org"}})
	path := "/password/reset/" + env.linkToken("password/reset")
	env.now = env.now.Add(resetLinkTTL)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec := env.do(method, path, url.Values{"password": {"a brand new password"}})
		body := rec.Body.String()
		if rec.Code != http.StatusGone || !strings.Contains(body, "This link has expired") || !strings.Contains(body, `href="/password/forgot"`) {
			t.Errorf("%s an expired link: %d, want 410 offering a new one", method, rec.Code)
		}
		if acctSessionCookie(rec) != nil {
			t.Errorf("%s an expired link set a session cookie", method)
		}
	}
	env.login("ada@example.org", "correct horse battery")
	for _, bad := range []string{"x", strings.Repeat("a", 43)} {
		if rec := env.post("/password/reset/"+bad, url.Values{"password": {"a brand new password"}}); rec.Code != http.StatusNotFound {
			t.Errorf("link %q: %d, want 404", bad, rec.Code)
		}
	}
}

// A reset proves the address is its owner's: it confirms an unconfirmed
// account, and voids the sign-in links sent before it.
func TestPasswordResetConfirmsAndVoidsLinks(t *testing.T) {
	env := newAcctEnv(t)
	if _, err := env.store.CreateOrganiser(context.Background(), "Ada", "ada@example.org", "correct horse battery", false, false); err != nil {
		t.Fatal(err)
	}
	env.post("/login/link", url.Values{"email": {"ada@example.org"}})
	login := env.linkToken("login/link")
	env.post("/password/forgot", url.Values{"email": {"ada@example.org"}})
	if rec := env.post("/password/reset/"+env.linkToken("password/reset"), url.Values{"password": {"a brand new password"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("reset: %d", rec.Code)
	}
	if !env.organiserByEmail("ada@example.org").EmailConfirmed() {
		t.Error("the reset did not confirm the address")
	}
	if rec := env.post("/login/link/"+login, nil); rec.Code != http.StatusGone || acctSessionCookie(rec) != nil {
		t.Errorf("sign-in link sent before the reset: %d, want 410", rec.Code)
	}
}
