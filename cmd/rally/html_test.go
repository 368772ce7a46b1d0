package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/campaigns"
)

// vnuJar is the Nu Html Checker, which .ci/run installs from npm (VNU_JAR,
// or node_modules at the repository root).
func vnuJar(t *testing.T) string {
	t.Helper()
	path := os.Getenv("VNU_JAR")
	if path == "" {
		path = filepath.Join("..", "..", "node_modules", "vnu-jar", "build", "dist", "vnu.jar")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the Nu Html Checker is needed to check the pages' markup: npm install --no-save --ignore-scripts vnu-jar@26.9.27 at the repository root (or set VNU_JAR): %v", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("the Nu Html Checker needs Java: apt-get install -y default-jre-headless: %v", err)
	}
	return path
}

// TestPagesAreValidHTML runs every kind of page Rally renders, in English
// and French, through the Nu Html Checker (the W3C's validator), and fails
// on any error: a browser forgives broken markup, a screen reader may not.
func TestPagesAreValidHTML(t *testing.T) {
	jar := vnuJar(t)
	// Limits off: the pages of mailed requests are opened in both languages.
	ta := newTestApp(t, map[string]string{"RALLY_RATE_LIMITS": "off"})
	org, orgRow := ta.organiser("Org", "org@example.org", true)
	slug := ta.publishedCause(org, "Safer crossings")
	// Enough causes for the home page to have a second page.
	for i := range 24 {
		c, err := ta.store.CreateCause(context.Background(), orgRow.ID, causeInput(fmt.Sprintf("Bench number %d", i)), "")
		if err == nil {
			_, err = ta.store.SetStatus(context.Background(), c.ID, campaigns.Published)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	visitor := ta.client()
	// Presence: an update, a won cause with its organiser's words, an
	// organisation page.
	posted := ta.do(org, "POST", "/campaigns/"+slug+"/updates", url.Values{"title": {"News <b>1</b>"}, "body": {"**Bold** and a [link](https://example.org)."}})
	if posted.status != http.StatusSeeOther {
		t.Fatalf("post an update: status %d", posted.status)
	}
	// One mailed: the updates page links to its email.
	if r := ta.do(org, "POST", "/campaigns/"+slug+"/updates", url.Values{"title": {"News 2"}, "body": {"Mailed."}, "email": {"1"}}); r.status != http.StatusSeeOther || !blastPathRE.MatchString(r.header.Get("Location")) {
		t.Fatalf("post an update to mail: status %d, Location %q", r.status, r.header.Get("Location"))
	}
	won := ta.publishedCause(org, "Quiet nights")
	if r := ta.do(org, "POST", "/campaigns/"+won+"/victory", url.Values{"victory_message": {"We won, thank you!"}}); r.status != http.StatusSeeOther {
		t.Fatalf("declare victory: status %d", r.status)
	}
	if r := ta.do(org, "POST", "/account/organisation", url.Values{"handle": {"safer-streets"}, "org_name": {"Safer streets"},
		"about": {"Neighbours."}, "website": {"https://example.org"}}); r.status != http.StatusSeeOther {
		t.Fatalf("organisation profile: status %d", r.status)
	}

	dir := t.TempDir()
	var files []string
	keep := func(name string, r resp, status int) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: status %d, want %d", name, r.status, status)
		}
		if strings.HasSuffix(name, "-fr") && !strings.Contains(r.body, `<html lang="fr"`) {
			t.Errorf("%s: not in French", name)
		}
		// Only the embeddable sign form's pages may be framed by other sites.
		csp, xfo := r.header.Get("Content-Security-Policy"), r.header.Get("X-Frame-Options")
		if framed := strings.Contains(csp, "frame-ancestors *") || xfo == ""; framed != strings.HasPrefix(name, "embed") {
			t.Errorf("%s: other sites may frame it: %v (CSP %q, X-Frame-Options %q)", name, framed, csp, xfo)
		}
		f := filepath.Join(dir, name+".html")
		if err := os.WriteFile(f, []byte(r.body), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	for _, lang := range []string{"en", "fr"} {
		get := func(path string) resp {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			return ta.do(visitor, "GET", path+sep+"lang="+lang, nil)
		}
		keep("home-"+lang, get("/"), http.StatusOK)
		keep("home-page-2-"+lang, get("/?page=2"), http.StatusOK)
		keep("search-"+lang, get("/?q=bench"), http.StatusOK)
		keep("search-page-2-"+lang, get("/?q=bench&page=2"), http.StatusOK)
		keep("search-nothing-"+lang, get("/?q=zeppelin"), http.StatusOK)
		keep("cause-"+lang, get("/c/"+slug), http.StatusOK)
		keep("privacy-"+lang, get("/privacy"), http.StatusOK)
		keep("victory-"+lang, get("/c/"+won), http.StatusOK)
		keep("org-"+lang, get("/org/safer-streets"), http.StatusOK)
		keep("login-"+lang, get("/login"), http.StatusOK)
		keep("signup-"+lang, get("/signup"), http.StatusOK)
		keep("signup-check-email-"+lang, ta.do(visitor, "POST", "/signup", url.Values{"name": {"Olive"},
			"email": {"olive-" + lang + "@example.org"}, "password": {"a long enough password"}, "lang": {lang}}), http.StatusOK)
		keep("login-link-"+lang, get("/login/link"), http.StatusOK)
		keep("password-forgot-"+lang, get("/password/forgot"), http.StatusOK)
		keep("not-found-"+lang, get("/c/no-such-cause"), http.StatusNotFound)

		// The form back with its errors, then the signing's pages.
		bad := signForm("", "not an address")
		bad.Set("lang", lang)
		keep("sign-errors-"+lang, ta.do(visitor, "POST", "/c/"+slug+"/sign", bad), http.StatusUnprocessableEntity)
		form := signForm("Ada Lovelace", "ada-"+lang+"@example.org")
		form.Set("lang", lang)
		keep("check-email-"+lang, ta.do(visitor, "POST", "/c/"+slug+"/sign", form), http.StatusOK)
		link := confirmLink.FindStringSubmatch(ta.lastMailTo("ada-" + lang + "@example.org"))
		if link == nil {
			t.Fatalf("%s: no confirmation link mailed", lang)
		}
		keep("confirm-"+lang, get("/confirm/"+link[1]), http.StatusOK)
		keep("confirm-bad-link-"+lang, get("/confirm/"+link[1][:40]), http.StatusNotFound)
		r := ta.do(visitor, "POST", "/confirm/"+link[1], url.Values{"lang": {lang}})
		if r.status == http.StatusSeeOther {
			r = ta.do(visitor, "GET", r.header.Get("Location"), nil)
		}
		keep("confirmed-"+lang, r, http.StatusOK)
		keep("confirm-used-link-"+lang, get("/confirm/"+link[1]), http.StatusOK)

		// Sharing: the signer's recruits page, the poster, the embedded
		// form and its answers.
		recruits := recruitsLink.FindString(ta.lastMailTo("ada-" + lang + "@example.org"))
		if recruits == "" {
			t.Fatalf("%s: no recruits link mailed", lang)
		}
		keep("recruits-"+lang, get(recruits), http.StatusOK)
		keep("poster-"+lang, get("/c/"+slug+"/poster"), http.StatusOK)
		keep("embed-"+lang, get("/c/"+slug+"/embed"), http.StatusOK)
		keep("embed-errors-"+lang, ta.do(visitor, "POST", "/c/"+slug+"/embed/sign?lang="+lang, bad), http.StatusUnprocessableEntity)
		embedded := signForm("Grace Hopper", "grace-"+lang+"@example.org")
		keep("embed-check-email-"+lang, ta.do(visitor, "POST", "/c/"+slug+"/embed/sign?lang="+lang, embedded), http.StatusOK)
		late := ta.signingToken(visitor, slug, "Lee Late", "lee-"+lang+"@example.org")
		if _, err := ta.writer.Exec(`UPDATE signatures SET token_expires_at = ? WHERE email = ?`, time.Now().UTC().Add(-time.Hour), "lee-"+lang+"@example.org"); err != nil {
			t.Fatal(err)
		}
		keep("confirm-expired-link-"+lang, get("/confirm/"+late), http.StatusGone)
	}
	// Reasons for signing, with a heart given: the pages of all of them,
	// and the page after a heart without JavaScript.
	var reason int64
	if err := ta.writer.QueryRow(`SELECT id FROM signatures WHERE comment <> '' AND confirmed_at IS NOT NULL LIMIT 1`).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	hearted := ta.do(visitor, "POST", fmt.Sprintf("/c/%s/comments/%d/heart", slug, reason), nil)
	if hearted.status != http.StatusSeeOther {
		t.Fatalf("heart: status %d", hearted.status)
	}
	for _, lang := range []string{"en", "fr"} {
		keep("reasons-"+lang, ta.do(visitor, "GET", "/c/"+slug+"/comments?lang="+lang, nil), http.StatusOK)
		keep("reasons-top-"+lang, ta.do(visitor, "GET", "/c/"+slug+"/comments?sort=top&lang="+lang, nil), http.StatusOK)
		keep("reasons-past-end-"+lang, ta.do(visitor, "GET", "/c/"+slug+"/comments?page=9&lang="+lang, nil), http.StatusOK)
	}
	keep("cause-hearted-en", ta.do(visitor, "GET", hearted.header.Get("Location"), nil), http.StatusOK)
	keep("comments", ta.do(org, "GET", "/campaigns/"+slug+"/comments", nil), http.StatusOK)
	// The cause page with its signatures' breakdown.
	keep("cause-breakdown-en", ta.do(visitor, "GET", "/c/"+slug+"?lang=en", nil), http.StatusOK)
	keep("cause-breakdown-fr", ta.do(visitor, "GET", "/c/"+slug+"?lang=fr", nil), http.StatusOK)
	// The organiser's pages.
	keep("updates", ta.do(org, "GET", "/campaigns/"+slug+"/updates", nil), http.StatusOK)
	keep("updates-errors", ta.do(org, "POST", "/campaigns/"+slug+"/updates", url.Values{"title": {""}}), http.StatusUnprocessableEntity)
	loc := posted.header.Get("Location")
	keep("update-edit", ta.do(org, "GET", "/campaigns/"+slug+"/updates/"+loc[strings.LastIndex(loc, "-")+1:]+"/edit", nil), http.StatusOK)
	var mailed int64
	if err := ta.reader.QueryRow(`SELECT id FROM cause_updates WHERE title = 'News 2'`).Scan(&mailed); err != nil {
		t.Fatal(err)
	}
	keep("update-edit-mailed", ta.do(org, "GET", "/campaigns/"+slug+"/updates/"+strconv.FormatInt(mailed, 10)+"/edit", nil), http.StatusOK)
	keep("org-profile", ta.do(org, "GET", "/account/organisation", nil), http.StatusOK)
	keep("org-profile-errors", ta.do(org, "POST", "/account/organisation", url.Values{"handle": {"admin"}}), http.StatusUnprocessableEntity)
	keep("dashboard", ta.do(org, "GET", "/dashboard", nil), http.StatusOK)
	keep("new-cause", ta.do(org, "GET", "/campaigns/new", nil), http.StatusOK)
	keep("new-cause-errors", ta.do(org, "POST", "/campaigns/new", url.Values{"title": {""}}), http.StatusUnprocessableEntity)
	keep("new-cause-image-kept", ta.postMultipart(org, "/campaigns/new", url.Values{"title": {""}}, testPNG(t)), http.StatusUnprocessableEntity)
	created := ta.do(org, "POST", "/campaigns/new", url.Values{"title": {"Benches"}, "summary": {"Rest."}, "target": {"The council"}, "goal": {"50"}})
	keep("overview-with-notice", ta.do(org, "GET", created.header.Get("Location"), nil), http.StatusOK)
	admin, _ := ta.organiser("Ada", "ada@example.org", true)
	keep("privacy-admin", ta.do(admin, "GET", "/privacy", nil), http.StatusOK)
	keep("overview", ta.do(org, "GET", "/campaigns/"+slug, nil), http.StatusOK)
	keep("edit-cause", ta.do(org, "GET", "/campaigns/"+slug+"/edit", nil), http.StatusOK)
	keep("dev-mail", ta.do(org, "GET", "/dev/mail", nil), http.StatusOK)
	keep("account", ta.do(org, "GET", "/account", nil), http.StatusOK)
	ta.do(visitor, "POST", "/password/forgot", url.Values{"email": {"org@example.org"}})
	reset := regexp.MustCompile(`/password/reset/[A-Za-z0-9_-]{43}`).FindString(ta.lastMailTo("org@example.org"))
	if reset == "" {
		t.Fatal("no reset link mailed")
	}
	keep("password-reset", ta.do(visitor, "GET", reset, nil), http.StatusOK)
	for _, lang := range []string{"en", "fr"} {
		keepModerationPages(t, ta, keep, lang, slug)
	}
	keepAdminPages(t, ta, keep, org, admin, slug)
	blastPages(t, ta, org, slug, keep)

	out, err := exec.Command("java", append([]string{"-jar", jar, "--errors-only", "--format", "json", "--exit-zero-always"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("vnu: %v\n%s", err, out)
	}
	// The JSON report is the last line; Java may print warnings before it.
	report := out[strings.LastIndex(strings.TrimSpace(string(out)), "\n")+1:]
	var res struct {
		Messages []struct {
			Type, URL, Message, Extract string
			LastLine                    int
		}
	}
	if err := json.Unmarshal(report, &res); err != nil {
		t.Fatalf("vnu report: %v\n%s", err, out)
	}
	for _, m := range res.Messages {
		t.Errorf("%s:%d: %s: %s (%q)", filepath.Base(m.URL), m.LastLine, m.Type, m.Message, m.Extract)
	}
}
