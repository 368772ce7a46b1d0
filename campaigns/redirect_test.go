package campaigns

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// nextAttacks are "next" values that try to send a browser off-site after
// login, raw as they would arrive decoded from a query or a form.
var nextAttacks = []string{
	`/./\evil.example/phish`,
	`/.\evil.example`,
	`/x/..\/evil.example`,
	`/x/../\evil.example`,
	`/\evil.example`,
	`/\/evil.example`,
	`\\evil.example`,
	`\/evil.example`,
	`//evil.example`,
	`///evil.example`,
	`//evil.example/path?x=1`,
	`/.//evil.example`,
	`/..//evil.example`,
	`/./../..//evil.example`,
	`//evil.example@rally.test`,
	`/%2F%2Fevil.example`,
	`/%2f/evil.example`,
	`/.%2F%2Fevil.example`,
	`/%2e%2e%2f%2fevil.example`,
	`/%5Cevil.example`,
	`/%5c%5cevil.example`,
	`/.%5Cevil.example`,
	`/%252F%252Fevil.example`,
	`/%09/evil.example`,
	`/%0d%0a//evil.example`,
	"/\t/evil.example",
	"/\n/evil.example",
	"/\r\n/evil.example",
	"/\x00/evil.example",
	"/ /evil.example",
	" //evil.example",
	"/\u3000/evil.example",
	"/\uff0f\uff0fevil.example",
	"https://evil.example/",
	"http:evil.example",
	"http:/evil.example",
	"javascript:alert(1)",
	"evil.example",
	"./evil.example",
	"//evil.example%2F..",
	"/x?y=1#\\evil.example",
	"/" + strings.Repeat("a", maxNextLen),
}

var formNext = regexp.MustCompile(`name="next" value="([^"]*)"`)

// assertSameSite fails unless location, as a browser on rally.test would
// read it, stays on rally.test.
func assertSameSite(t *testing.T, how, location string) {
	t.Helper()
	if location == "" || location[0] != '/' {
		t.Errorf("%s: Location %q does not start with /", how, location)
		return
	}
	if len(location) > 1 && (location[1] == '/' || location[1] == '\\') {
		t.Errorf("%s: Location %q starts with %q: another site to a browser", how, location, location[:2])
	}
	if strings.ContainsAny(location, "\\\t\r\n") {
		t.Errorf("%s: Location %q holds a backslash or a control character", how, location)
	}
	base, _ := url.Parse("http://rally.test/login")
	ref, err := url.Parse(location)
	if err != nil {
		t.Errorf("%s: Location %q does not parse: %v", how, location, err)
		return
	}
	if got := base.ResolveReference(ref); got.Host != "rally.test" || got.Scheme != "http" {
		t.Errorf("%s: Location %q resolves to %s, off the site", how, location, got)
	}
}

func TestLoginNeverRedirectsOffSite(t *testing.T) {
	env := newAcctEnv(t)
	if _, err := env.acc.AddOrganiser(context.Background(), "Ada", "ada@example.org", "correct horse battery", false); err != nil {
		t.Fatal(err)
	}
	// A protected page under any path, to be bounced to the login page.
	env.engine.GET("/p/*rest", env.acc.RequireOrganiser(), func(c *gin.Context) { c.String(http.StatusOK, "protected") })
	session := env.login("ada@example.org", "correct horse battery")

	for _, next := range nextAttacks {
		t.Run(strings.ToValidUTF8(next, "?"), func(t *testing.T) {
			// Signed in, the login page sends on to next at once.
			rec := env.get("/login?next="+url.QueryEscape(next), session)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("GET /login signed in: status %d, want 303", rec.Code)
			}
			assertSameSite(t, "GET /login signed in", rec.Header().Get("Location"))

			// Signed out, the form carries next only when it is safe, and
			// the login sends there.
			body := env.get("/login?next=" + url.QueryEscape(next)).Body.String()
			if m := formNext.FindStringSubmatch(body); m != nil {
				assertSameSite(t, "the login form's next", html.UnescapeString(m[1]))
			}
			rec = env.post("/login", url.Values{"email": {"ada@example.org"}, "password": {"correct horse battery"}, "next": {next}})
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("POST /login: status %d, want 303", rec.Code)
			}
			assertSameSite(t, "POST /login", rec.Header().Get("Location"))

			// A protected page reached through the attack string sends to the
			// login page, and what it passes on as next is safe too.
			u, err := url.Parse("/p/" + strings.TrimLeft(next, "/"))
			if err != nil {
				return // no browser can ask for this path
			}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL = u
			req.RequestURI = u.RequestURI()
			rr := httptest.NewRecorder()
			env.engine.ServeHTTP(rr, req)
			if rr.Code != http.StatusSeeOther {
				return // not routed to the protected page
			}
			loc := rr.Header().Get("Location")
			assertSameSite(t, "protected page", loc)
			lu, err := url.Parse(loc)
			if err != nil || lu.Path != "/login" {
				t.Fatalf("protected page sent to %q, want /login", loc)
			}
			passed := lu.Query().Get("next")
			rec = env.post("/login", url.Values{"email": {"ada@example.org"}, "password": {"correct horse battery"}, "next": {passed}})
			assertSameSite(t, "POST /login after the protected page", rec.Header().Get("Location"))
			rec = env.get("/login?next="+url.QueryEscape(passed), session)
			assertSameSite(t, "GET /login after the protected page", rec.Header().Get("Location"))
		})
	}
}

// Paths on the site still come back as they were, cleaned as a redirect
// would clean them.
func TestLocalPathKeepsSiteLinks(t *testing.T) {
	for next, want := range map[string]string{
		"/campaigns/3/edit?tab=text":        "/campaigns/3/edit?tab=text",
		"/dashboard":                        "/dashboard",
		"/campaigns/a/../b":                 "/campaigns/b",
		"/campaigns/x/":                     "/campaigns/x/",
		"/c/caf%C3%A9?ref=abc":              "/c/caf%C3%A9?ref=abc",
		"/campaigns/x?next=%2F%2Fevil":      "/campaigns/x?next=%2F%2Fevil",
		"/campaigns/x/blasts?before=123#id": "/campaigns/x/blasts?before=123#id",
		"/":                                 "/",
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}
