package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var hrefAttr = regexp.MustCompile(`(?i)\s(?:href|action|src)\s*=\s*"([^"]*)"`)

// TestLanguageSwitchStaysOnSite: the language switch links to the page
// asked for, in the other language. However the path is written, that
// link, and every other on the page, stays on this site: a link someone
// shares must not make Rally's page send its reader elsewhere.
func TestLanguageSwitchStaysOnSite(t *testing.T) {
	ta := newTestApp(t, nil)
	base := mustURL(t, "http://rally.test/")
	for _, target := range []string{
		"/%2Fevil.example",
		"/%2F%2Fevil.example",
		"/%2F%2Fevil.example?q=1",
		"/%2F%2Fevil.example/c/x?lang=fr",
		"/%5C%5Cevil.example",
		"/\\evil.example",
		"/\\\\evil.example",
		"/%2F%5Cevil.example",
		"/%5C%2Fevil.example",
		"/%2F/evil.example",
		"/%09/evil.example",
		"//evil.example",
		"///evil.example",
		"/c/%2F%2Fevil.example",
		"/confirm/%2F%2Fevil.example",
		"/dashboard/..%2F%2Fevil.example",
	} {
		for _, lang := range []string{"en", "fr"} {
			rec := ta.serve("GET", target, "192.0.2.1:1234", "Accept-Language", lang)
			if rec.Code >= 500 {
				t.Errorf("GET %s: status %d", target, rec.Code)
				continue
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				if u, err := resolveAsBrowser(base, loc); err != nil || u.Host != base.Host {
					t.Errorf("GET %s: redirects to %s, another host (%v)", target, loc, err)
				}
			}
			body := rec.Body.String()
			links := hrefAttr.FindAllStringSubmatch(body, -1)
			if rec.Code == http.StatusNotFound && len(links) == 0 {
				t.Errorf("GET %s: a 404 page without links\n%s", target, body)
			}
			switched := false
			for _, m := range links {
				raw := html.UnescapeString(m[1])
				u, err := resolveAsBrowser(base, raw)
				if err != nil {
					t.Errorf("GET %s (%s): link %q is no URL on this site: %v", target, lang, raw, err)
				} else if u.Host != base.Host || (u.Scheme != "http" && u.Scheme != "https") {
					t.Errorf("GET %s (%s): link %q leads to %s", target, lang, raw, u)
				}
				if strings.Contains(raw, "lang=") {
					switched = true
				}
			}
			if rec.Code == http.StatusNotFound && !switched {
				t.Errorf("GET %s: the page has no language switch", target)
			}
		}
	}

	// An ordinary page's switch still links to that page.
	rec := ta.serve("GET", "/privacy?x=%C3%A9", "192.0.2.1:1234")
	if want := `href="/privacy?x=%C3%A9&amp;lang=fr"`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("the privacy page's switch is not %s", want)
	}
	rec = ta.serve("GET", "/c/for%C3%AAt-d%27%C3%A9t%C3%A9", "192.0.2.1:1234")
	if want := `href="/c/for%C3%AAt-d%27%C3%A9t%C3%A9?lang=fr"`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("the 404 page's switch is not %s:\n%s", want, rec.Body.String())
	}
}

// resolveAsBrowser resolves a link as a browser does for an http(s) page:
// tabs and newlines dropped, backslashes read as slashes, and any run of
// two or more slashes at the start followed by a host.
func resolveAsBrowser(base *url.URL, ref string) (*url.URL, error) {
	ref = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(strings.TrimSpace(ref))
	if strings.HasPrefix(ref, "//") {
		ref = "//" + strings.TrimLeft(ref, "/")
	}
	u, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(u), nil
}
