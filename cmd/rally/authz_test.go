package main

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// publicRoutes are the routes anyone may use without signing in. Every
// other route the router holds is taken to be the organiser area's (or,
// under adminPrefix, the admins'), and TestAuthorisationMatrix holds it to
// that: a route added without protection fails the test until it is
// protected or, deliberately, listed here.
var publicRoutes = map[string]bool{
	"GET /static/*file": true,
	"GET /healthz":      true,
	// The causes, signing and confirming.
	"GET /":                     true,
	"GET /privacy":              true,
	"GET /c/:slug/updates.atom": true,
	"GET /org/:handle":          true,
	"GET /org/:handle/card.png": true,
	// Reasons for signing, and their hearts (no account needed).
	"GET /c/:slug/comments":            true,
	"POST /c/:slug/comments/:id/heart": true,
	"GET /c/:slug":                     true,
	"HEAD /c/:slug":                    true,
	"GET /c/:slug/sign":                true,
	"POST /c/:slug/sign":               true,
	"GET /confirm/:token":              true,
	"POST /confirm/:token":             true,
	"GET /uploads/:name":               true,
	"GET /c/:slug/donate":              true,
	"POST /c/:slug/donate":             true,
	"GET /c/:slug/donate/thanks":       true,
	"POST /webhooks/stripe":            true,
	// Sharing: the card, the QR code, the poster and the embeddable form.
	"GET /c/:slug/card.png":    true,
	"GET /c/:slug/qr.png":      true,
	"GET /c/:slug/poster":      true,
	"GET /c/:slug/embed":       true,
	"POST /c/:slug/embed/sign": true,
	"GET /c/:slug/embed/sign":  true,
	// Reporting a cause, a person's requests about their data.
	"GET /c/:slug/report":   true,
	"POST /c/:slug/report":  true,
	"POST /privacy/request": true,
	// Links from emails carry their own token.
	"GET /donations/cancel/:token":  true,
	"POST /donations/cancel/:token": true,
	"GET /account/confirm/:token":   true,
	"POST /account/confirm/:token":  true,
	"GET /c/:slug/recruits/:token":  true,
	"GET /privacy/:token":           true,
	"POST /privacy/:token":          true,
	"GET /withdraw/:token":          true,
	"POST /withdraw/:token":         true,
	"GET /t/:token":                 true,
	"GET /u/:token":                 true,
	"POST /u/:token":                true,
	// Getting in.
	"GET /signup":                 true,
	"POST /signup":                true,
	"GET /login":                  true,
	"POST /login":                 true,
	"POST /logout":                true,
	"GET /login/link":             true,
	"POST /login/link":            true,
	"GET /login/link/:token":      true,
	"POST /login/link/:token":     true,
	"GET /password/forgot":        true,
	"POST /password/forgot":       true,
	"GET /password/reset/:token":  true,
	"POST /password/reset/:token": true,
}

// ownRuleRoutes are the operations pages, open by a rule of their own
// (this machine, an admin, a token): TestDevMailAccess and TestMetricsAccess
// hold them to it. An image kept from a cause form with errors is its
// organiser's alone, admins included: TestPendingImageIsTheOrganisersAlone.
var ownRuleRoutes = map[string]bool{
	"GET /campaigns/new/image/:name": true,
	"GET /metrics":                   true,
	"GET /dev/mail":                  true,
	"GET /dev/mail/:file":            true,
	"GET /dev/mail/:file/html":       true,
	"GET /dev/mail/:file/raw":        true,
}

type authzRole string

const (
	anonymous authzRole = "anonymous"
	stranger  authzRole = "another organiser"
	owner     authzRole = "the cause's owner"
	admin     authzRole = "an admin"
)

const matrixPassword = "a long enough password"

// authzMatrix sends every organiser and admin route of a Rally, read from
// its router, as each role, and reports what a role could do that it
// should not.
type authzMatrix struct {
	ta      *testApp
	emails  map[authzRole]string
	clients map[authzRole]*http.Client
	causes  int
}

func newAuthzMatrix(ta *testApp) *authzMatrix {
	m := &authzMatrix{ta: ta, clients: map[authzRole]*http.Client{anonymous: ta.client()},
		emails: map[authzRole]string{stranger: "stranger@example.org", owner: "owner@example.org", admin: "admin@example.org"}}
	for _, r := range []authzRole{stranger, owner, admin} {
		c, _ := ta.organiser(string(r), m.emails[r], r == admin)
		m.clients[r] = c
	}
	return m
}

// client returns the role's client, signed in again if an earlier request
// (logging out everywhere, ending a session) ended its session.
func (m *authzMatrix) client(r authzRole) *http.Client {
	c := m.clients[r]
	if r == anonymous {
		return c
	}
	if m.ta.do(c, "GET", "/dashboard", nil).status == http.StatusOK {
		return c
	}
	c = m.ta.client()
	if res := m.ta.do(c, "POST", "/login", url.Values{"email": {m.emails[r]}, "password": {matrixPassword}}); res.status != http.StatusSeeOther {
		m.ta.t.Fatalf("log %s in again: status %d", r, res.status)
	}
	m.clients[r] = c
	return c
}

// kind says which rules a route is held to.
type routeKind int

const (
	organiserRoute routeKind = iota // any organiser, on their own things
	causeRoute                      // a cause's owner, or an admin
	adminRoute                      // admins only
)

func kindOf(path string) routeKind {
	switch {
	case path == adminPrefix || strings.HasPrefix(path, adminPrefix+"/"):
		return adminRoute
	case strings.Contains(path, ":slug"):
		return causeRoute
	}
	return organiserRoute
}

// guardedRoutes returns the routes held to the organiser's or the admin's
// rules: all but the public and operations ones.
func guardedRoutes(e *gin.Engine) []gin.RouteInfo {
	var out []gin.RouteInfo
	for _, r := range e.Routes() {
		key := r.Method + " " + r.Path
		if !publicRoutes[key] && !ownRuleRoutes[key] {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		// GETs first: a POST may change what later requests find.
		if (out[i].Method == "GET") != (out[j].Method == "GET") {
			return out[i].Method == "GET"
		}
		return out[i].Method+out[i].Path < out[j].Method+out[j].Path
	})
	return out
}

var linkAttr = regexp.MustCompile(`(?i)\s(?:href|action)\s*=\s*"(/[^"]*)"`)

// fixture makes a fresh published cause of the owner's, with a signature and
// whatever the owner can create under it by the contract's forms (a blast
// draft), and returns its slug and every link and form action found on the
// owner's pages, from which routes' other parameters take real values.
func (m *authzMatrix) fixture(e *gin.Engine) (string, []string) {
	m.causes++
	oc := m.client(owner)
	slug := m.ta.publishedCause(oc, fmt.Sprintf("Matrix cause %d", m.causes))
	signer := fmt.Sprintf("signer%d@example.org", m.causes)
	if r := m.ta.do(m.client(anonymous), "POST", "/c/"+slug+"/sign", signForm("Ada Signer", signer)); r.status != http.StatusOK {
		m.ta.t.Fatalf("sign the matrix cause: status %d", r.status)
	}
	// Confirmed, the signature's public comment is on the owner's review
	// page, whose forms give the comment routes their id.
	if link := confirmLink.FindStringSubmatch(m.ta.lastMailTo(signer)); link == nil {
		m.ta.t.Fatal("no confirmation link mailed to the matrix cause's signer")
	} else if r := m.ta.do(m.client(anonymous), "POST", "/confirm/"+link[1], nil); r.status != http.StatusOK {
		m.ta.t.Fatalf("confirm the matrix cause's signature: status %d", r.status)
	}
	routes := map[string]bool{}
	for _, r := range e.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	if routes["POST /campaigns/:slug/blasts"] {
		r := m.ta.do(oc, "POST", "/campaigns/"+slug+"/blasts", url.Values{"subject": {"News"}, "body": {"Hello {first_name|friend}"},
			"cta_label": {"Read"}, "cta_url": {"https://example.org/read"}})
		if r.status != http.StatusSeeOther {
			m.ta.t.Fatalf("save a blast draft: status %d", r.status)
		}
	}
	if routes["POST /campaigns/:slug/updates"] {
		if r := m.ta.do(oc, "POST", "/campaigns/"+slug+"/updates", url.Values{"title": {"News"}, "body": {"We met the mayor."}}); r.status != http.StatusSeeOther {
			m.ta.t.Fatalf("post an update: status %d", r.status)
		}
	}
	// Every page of the owner's with no parameter but the cause.
	var links []string
	for _, r := range guardedRoutes(e) {
		if r.Method != "GET" || kindOf(r.Path) == adminRoute || strings.Contains(strings.ReplaceAll(r.Path, ":slug", ""), ":") || strings.Contains(r.Path, "*") {
			continue
		}
		res := m.ta.do(oc, "GET", strings.ReplaceAll(r.Path, ":slug", slug), nil)
		if !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
			continue
		}
		for _, l := range linkAttr.FindAllStringSubmatch(res.body, -1) {
			links = append(links, html.UnescapeString(l[1]))
		}
	}
	return slug, links
}

var routeParam = regexp.MustCompile(`[:*][A-Za-z_]+`)

// fill puts values into a route's parameters: the slug, and for any other a
// value found in the owner's links (a blast's id, a session's id), or
// failing that a made-up one. routes are the router's, whose own words
// (…/blasts/new) are no parameter's value.
func fill(path, slug string, links []string, routes []gin.RouteInfo) string {
	path = strings.ReplaceAll(path, ":slug", slug)
	if !routeParam.MatchString(path) {
		return path
	}
	pattern := "^" + routeParam.ReplaceAllStringFunc(regexp.QuoteMeta(path), func(p string) string {
		if p[0] == '*' {
			return "(.+)"
		}
		return `([^/?#]+)`
	}) + `(?:[?#].*)?$`
	re := regexp.MustCompile(pattern)
	for _, l := range links {
		if re.MatchString(l) {
			return strings.SplitN(strings.SplitN(l, "?", 2)[0], "#", 2)[0]
		}
	}
	// Failing a link to the route itself, a parameter takes its value from
	// a link to the path up to it: a blast's page (/campaigns/x/blasts/3)
	// gives its id to the blast's actions (…/blasts/3/send).
	static := map[string]bool{}
	for _, r := range routes {
		static[strings.ReplaceAll(r.Path, ":slug", slug)] = true
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, ":") {
			continue
		}
		before := strings.Join(segs[:i], "/") + "/"
		for _, l := range links {
			p := strings.SplitN(strings.SplitN(l, "?", 2)[0], "#", 2)[0]
			if v, _, _ := strings.Cut(strings.TrimPrefix(p, before), "/"); strings.HasPrefix(p, before) && v != "" && !static[before+v] {
				segs[i] = v
				break
			}
		}
	}
	path = strings.Join(segs, "/")
	return routeParam.ReplaceAllStringFunc(path, func(p string) string {
		if strings.Contains(p, "token") {
			return strings.Repeat("A", 43)
		}
		return "1"
	})
}

// check sends every guarded route of e (those keep selects) as every role,
// and reports each breach of the rules through errorf.
func (m *authzMatrix) check(e *gin.Engine, keep func(gin.RouteInfo) bool, errorf func(string, ...any)) int {
	checked := 0
	for _, r := range guardedRoutes(e) {
		if keep != nil && !keep(r) {
			continue
		}
		checked++
		kind := kindOf(r.Path)
		slug, links := m.fixture(e)
		target := fill(r.Path, slug, links, e.Routes())
		name := r.Method + " " + r.Path
		send := func(role authzRole) resp {
			var form url.Values
			if r.Method == "POST" {
				form = url.Values{}
			}
			return m.ta.do(m.client(role), r.Method, target, form)
		}

		// Anonymous: to the login page, which brings a GET back here.
		res := send(anonymous)
		loc := res.header.Get("Location")
		if res.status != http.StatusSeeOther {
			errorf("%s as %s: status %d, want 303 to the login page", name, anonymous, res.status)
		} else if r.Method == "GET" || r.Method == "HEAD" {
			u, err := url.Parse(loc)
			if err != nil || u.Path != "/login" || u.Query().Get("next") != target {
				errorf("%s as %s: redirected to %q, want /login?next=%s", name, anonymous, loc, url.QueryEscape(target))
			}
		} else if loc != "/login" {
			errorf("%s as %s: redirected to %q, want /login", name, anonymous, loc)
		}

		// Signed in. A POST by the owner or an admin gets a cause of its
		// own: the other's may have changed it (closed, deleted).
		for _, role := range []authzRole{stranger, admin, owner} {
			if r.Method == "POST" && role == owner {
				slug, links = m.fixture(e)
				target = fill(r.Path, slug, links, e.Routes())
			}
			res := send(role)
			loc := res.header.Get("Location")
			toLogin := res.status >= 300 && res.status < 400 && strings.HasPrefix(loc, "/login")
			allowed := res.status < 500 && res.status != http.StatusForbidden && res.status != http.StatusNotFound && !toLogin
			switch {
			case res.status >= 500:
				errorf("%s as %s: status %d", name, role, res.status)
			case toLogin:
				errorf("%s as %s: sent to the login page (%s) though signed in", name, role, loc)
			case kind == adminRoute && role != admin:
				if res.status != http.StatusForbidden {
					errorf("%s as %s: status %d, want 403 (admins only)", name, role, res.status)
				}
			case kind == adminRoute || kind == causeRoute && role == admin:
				if !allowed {
					errorf("%s as %s: status %d, want the page or its action", name, role, res.status)
				}
			case role == stranger && (kind == causeRoute || routeParam.MatchString(r.Path)):
				// The values are the owner's: their cause, their blast,
				// their session. To anyone else they do not exist.
				if res.status != http.StatusNotFound {
					errorf("%s as %s, on the owner's %s: status %d, want 404", name, role, target, res.status)
				}
			case role == admin:
				// Another organiser's own things (a session): the admin
				// needs no more than not to break anything.
			default:
				if !allowed {
					errorf("%s as %s (%s): status %d, want the page or its action", name, role, target, res.status)
				}
			}
		}
	}
	return checked
}

// TestAuthorisationMatrix: every organiser and admin route, read from the
// router, sent by someone not signed in, another organiser, the cause's
// owner and an admin. Not signed in: to the login page. Another organiser
// on someone's cause: 404, as if it did not exist. The owner, and an admin:
// the page or its action. Anyone but an admin on an admin page: 403.
func TestAuthorisationMatrix(t *testing.T) {
	ta := newTestApp(t, map[string]string{"RALLY_RATE_LIMITS": "off"})
	m := newAuthzMatrix(ta)
	n := m.check(ta.engine, nil, t.Errorf)
	if n < 10 {
		t.Errorf("the matrix checked %d routes; the organiser area has more", n)
	}
	t.Logf("%d organiser and admin routes checked", n)
}

// TestAuthorisationMatrixCatchesUnprotectedRoutes: the matrix is only worth
// its routes if it notices a route mounted without protection.
func TestAuthorisationMatrixCatchesUnprotectedRoutes(t *testing.T) {
	ta := newTestApp(t, map[string]string{"RALLY_RATE_LIMITS": "off"})
	m := newAuthzMatrix(ta)
	page := func(c *gin.Context) { c.String(http.StatusOK, "private things") }
	org := ta.engine.Group("", ta.accounts.RequireOrganiser())
	adm := ta.engine.Group(adminPrefix, ta.accounts.RequireOrganiser(), ta.accounts.RequireAdmin())
	ta.engine.GET("/campaigns/:slug/leak", page)  // no login asked
	org.GET("/campaigns/:slug/peek", page)        // any organiser's cause
	org.POST("/campaigns/:slug/peek", page)       // any organiser's cause
	org.GET(adminPrefix+"/organisers-leak", page) // an admin page for all
	adm.GET("/organisers", page)                  // as it should be
	ta.engine.GET("/account/leak", page)          // no login asked
	for _, tt := range []struct {
		path, method string
		breached     bool
	}{
		{"/campaigns/:slug/leak", "GET", true},
		{"/campaigns/:slug/peek", "GET", true},
		{"/campaigns/:slug/peek", "POST", true},
		{adminPrefix + "/organisers-leak", "GET", true},
		{adminPrefix + "/organisers", "GET", false},
		{"/account/leak", "GET", true},
		{"/campaigns/:slug/edit", "GET", false},
	} {
		var breaches []string
		n := m.check(ta.engine, func(r gin.RouteInfo) bool { return r.Path == tt.path && r.Method == tt.method },
			func(format string, args ...any) { breaches = append(breaches, fmt.Sprintf(format, args...)) })
		if n != 1 {
			t.Fatalf("%s %s: the matrix checked %d routes, want it found in the router", tt.method, tt.path, n)
		}
		if got := len(breaches) > 0; got != tt.breached {
			t.Errorf("%s %s: breaches %q, want some: %v", tt.method, tt.path, breaches, tt.breached)
		}
	}
}
