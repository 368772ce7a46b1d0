package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var accountLink = regexp.MustCompile(`/account/confirm/[A-Za-z0-9_-]{43}`)

// Link checkers and mail scanners ask for a mail's links with HEAD: every
// GET route answers HEAD with the status and headers GET gives, and no body.
func TestGETRoutesAnswerHEAD(t *testing.T) {
	ta := newTestApp(t, nil)
	srv := httptest.NewServer(ta.handler())
	t.Cleanup(srv.Close)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for schools")
	if r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Ada Lovelace", "ada@example.org")); r.status != http.StatusOK {
		t.Fatalf("sign: status %d", r.status)
	}
	confirm := confirmLink.FindString(ta.lastMailTo("ada@example.org"))
	form := url.Values{"name": {"Sam Signup"}, "email": {"sam@example.org"}, "password": {"a long enough password"}}
	if r := ta.do(ta.client(), "POST", "/signup", form); r.status != http.StatusSeeOther && r.status != http.StatusOK {
		t.Fatalf("signup: status %d", r.status)
	}
	account := accountLink.FindString(ta.lastMailTo("sam@example.org"))
	if confirm == "" || account == "" {
		t.Fatalf("no confirmation links in the mails (%q, %q)", confirm, account)
	}

	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fetch := func(method, path string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}

	for _, path := range []string{"/", "/c/" + slug, confirm, account} {
		getStatus, getHeader, _ := fetch("GET", path)
		status, header, body := fetch("HEAD", path)
		if status != http.StatusOK || getStatus != http.StatusOK {
			t.Errorf("%s: HEAD %d, GET %d; want 200 for both", path, status, getStatus)
		}
		if body != "" {
			t.Errorf("HEAD %s: %d bytes of body, want none", path, len(body))
		}
		if got, want := header.Get("Content-Type"), getHeader.Get("Content-Type"); got != want {
			t.Errorf("HEAD %s: Content-Type %q, GET's %q", path, got, want)
		}
	}
	// A confirmation page seen by a scanner confirms nothing.
	if n := ta.count(`SELECT count(*) FROM signatures WHERE confirmed_at IS NOT NULL`); n != 0 {
		t.Errorf("HEAD of a confirmation link confirmed %d signatures", n)
	}

	// Every GET route, with its parameters made up: HEAD gets GET's status.
	params := regexp.MustCompile(`[:*][A-Za-z_]+`)
	n := 0
	for _, r := range ta.engine.Routes() {
		if r.Method != http.MethodGet {
			continue
		}
		path := params.ReplaceAllStringFunc(r.Path, func(p string) string {
			if strings.TrimLeft(p, ":*") == "slug" {
				return slug
			}
			return "x"
		})
		getStatus, _, _ := fetch("GET", path)
		if status, _, _ := fetch("HEAD", path); status != getStatus {
			t.Errorf("%s (route %s): HEAD %d, GET %d", path, r.Path, status, getStatus)
		}
		n++
	}
	if n < 20 {
		t.Errorf("walked %d GET routes, expected more", n)
	}
}
