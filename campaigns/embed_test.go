package campaigns

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The embedded sign form and each of its answers (the form back with its
// errors, closed, "check your email") come in the embed's own layout, may
// be framed by any site, and a signing through it counts under the embed's
// channel.
func TestEmbedSignsInItsOwnLayout(t *testing.T) {
	env := newPagesEnv(t)
	c := env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor"})
	base := "/c/" + c.Slug
	isEmbed := func(what string, r pageResp, status int) {
		t.Helper()
		if r.code != status {
			t.Errorf("%s: status %d, want %d\n%s", what, r.code, status, r.body)
		}
		if !strings.Contains(r.body, `<body class="embed">`) || strings.Contains(r.body, `<header class="site">`) {
			t.Errorf("%s: not in the embed's layout", what)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors *") || r.header.Get("X-Frame-Options") != "" {
			t.Errorf("%s: framing not allowed: CSP %q, X-Frame-Options %q", what, csp, r.header.Get("X-Frame-Options"))
		}
	}
	r := env.do(http.MethodGet, base+"/embed?lang=fr", nil)
	isEmbed("the form", r, http.StatusOK)
	for _, want := range []string{`action="/c/` + c.Slug + `/embed/sign?lang=fr"`, `name="source" value="embed"`, `lang="fr"`, `target="_blank"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the embedded form lacks %s", want)
		}
	}

	// Reloading an answer inside the frame, as a GET, brings the form back.
	if r := env.do(http.MethodGet, base+"/embed/sign?lang=fr", nil); r.code != http.StatusSeeOther || r.header.Get("Location") != base+"/embed?lang=fr" {
		t.Errorf("GET of the embed's sign address: status %d to %q, want 303 to the embed", r.code, r.header.Get("Location"))
	}

	bad := url.Values{"name": {"Ada"}, "email": {"not an address"}, "country": {"FR"}, "source": {"embed"}}
	r = env.do(http.MethodPost, base+"/embed/sign", bad)
	isEmbed("the form back with its errors", r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, `value="Ada"`) || !strings.Contains(r.body, `id="email-error"`) {
		t.Error("the embedded form back with its errors lost what was typed or the error by the field")
	}

	good := url.Values{"name": {"Ada"}, "email": {"ada@example.org"}, "country": {"FR"}, "source": {"embed"}}
	r = env.do(http.MethodPost, base+"/embed/sign", good)
	isEmbed("check your email", r, http.StatusOK)
	if !strings.Contains(r.body, "Check your email") || !strings.Contains(r.body, "ada@example.org") {
		t.Errorf("the embed's check-your-email page does not say where the mail went:\n%s", r.body)
	}
	var source string
	if err := env.w.QueryRow(`SELECT source FROM signatures WHERE email = 'ada@example.org'`).Scan(&source); err != nil || source != SourceEmbed {
		t.Errorf("the signature's channel is %q, %v; want embed", source, err)
	}
	if n := len(env.token("ada@example.org")); n != 48 {
		t.Error("no confirmation mail for a signing through the embed")
	}

	if _, err := env.store.SetStatus(context.Background(), c.ID, Closed); err != nil {
		t.Fatal(err)
	}
	r = env.do(http.MethodPost, base+"/embed/sign", url.Values{"name": {"Ben"}, "email": {"ben@example.org"}, "country": {"FR"}})
	isEmbed("closed", r, http.StatusConflict)
	if !strings.Contains(r.body, "This petition is closed") {
		t.Error("signing a closed cause through the embed does not say it is closed")
	}
	r = env.do(http.MethodGet, base+"/embed", nil)
	isEmbed("the closed form", r, http.StatusOK)
	if strings.Contains(r.body, "<form") {
		t.Error("the embed of a closed cause still has a form")
	}

	// The cause page itself says nothing of framing.
	if r := env.do(http.MethodGet, base, nil); strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors *") {
		t.Error("the cause page may be framed")
	}
}
