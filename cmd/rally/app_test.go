package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/campaigns"
)

// testApp is a whole Rally on a temp data folder, served by httptest.
type testApp struct {
	*app
	srv *httptest.Server
	t   testing.TB
}

func newTestApp(t *testing.T, env map[string]string) *testApp {
	t.Helper()
	return newTestAppTB(t, env)
}

func newTestAppTB(t testing.TB, env map[string]string) *testApp {
	t.Helper()
	vars := map[string]string{"RALLY_DATA": t.TempDir(), "RALLY_LOG_LEVEL": "error"}
	for k, v := range env {
		vars[k] = v
	}
	// The base URL must be the test server's, which exists only once the
	// engine does: start the server on a placeholder handler first.
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	vars["RALLY_BASE_URL"] = ts.URL
	cfg, err := parseConfig(newFlagSet(), nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	setupLogging(cfg.LogLevel, io.Discard)
	a, err := newApp(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = a.engine
	t.Cleanup(func() {
		ts.Close()
		a.close()
	})
	return &testApp{app: a, srv: ts, t: t}
}

// client is a browser-like client with its own cookies that does not
// follow redirects, so tests see each 303.
func (ta *testApp) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type resp struct {
	status int
	body   string
	header http.Header
}

func (ta *testApp) do(c *http.Client, method, path string, form url.Values, headers ...string) resp {
	ta.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, ta.srv.URL+path, body)
	if err != nil {
		ta.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		ta.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), header: res.Header}
}

// organiser adds a confirmed organiser and returns a client logged in as them.
func (ta *testApp) organiser(name, email string, admin bool) (*http.Client, campaigns.Organiser) {
	ta.t.Helper()
	o, err := ta.accounts.AddOrganiser(context.Background(), name, email, "a long enough password", admin)
	if err != nil {
		ta.t.Fatal(err)
	}
	c := ta.client()
	r := ta.do(c, "POST", "/login", url.Values{"email": {email}, "password": {"a long enough password"}})
	if r.status != http.StatusSeeOther {
		ta.t.Fatalf("login: status %d", r.status)
	}
	return c, o
}

// publishedCause creates and publishes a cause through the organiser's pages.
func (ta *testApp) publishedCause(c *http.Client, title string) string {
	ta.t.Helper()
	r := ta.do(c, "POST", "/campaigns/new", url.Values{"title": {title}, "summary": {"A summary."}, "target": {"The Mayor"},
		"goal": {"100"}, "body": {"## Why\n\nBecause."}})
	if r.status != http.StatusSeeOther {
		ta.t.Fatalf("create cause: status %d\n%s", r.status, r.body)
	}
	slug := strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
	r = ta.do(c, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"published"}})
	if r.status != http.StatusSeeOther {
		ta.t.Fatalf("publish: status %d\n%s", r.status, r.body)
	}
	return slug
}

var confirmLink = regexp.MustCompile(`/confirm/([0-9a-f]{16}[A-Za-z0-9_-]{32})`)

// lastMailTo delivers the outbox as the worker would, then returns the
// newest delivered mail to an address, as its .eml text (quoted-printable
// undone), or "" if none.
func (ta *testApp) lastMailTo(addr string) string {
	ta.t.Helper()
	for {
		n, err := ta.worker.DeliverDue(context.Background())
		if err != nil {
			ta.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	names, _ := filepath.Glob(filepath.Join(ta.mailDir, "*.eml"))
	sort.Strings(names) // the dev outbox names files by time
	for i := len(names) - 1; i >= 0; i-- {
		b, err := os.ReadFile(names[i])
		if err != nil {
			ta.t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			ta.t.Fatal(err)
		}
		to, err := mail.ParseAddress(msg.Header.Get("To"))
		if err == nil && strings.EqualFold(to.Address, addr) {
			return decodeQP(string(b))
		}
	}
	return ""
}

func (ta *testApp) count(query string, args ...any) int {
	ta.t.Helper()
	var n int
	if err := ta.reader.QueryRow(query, args...).Scan(&n); err != nil {
		ta.t.Fatal(err)
	}
	return n
}

func causeInput(title string) campaigns.CauseInput {
	return campaigns.CauseInput{Title: title, Summary: "A summary.", Target: "The Mayor", Goal: 100, BodyMD: "## Why\n\nBecause.", Lang: "en"}
}

func signForm(name, email string) url.Values {
	return url.Values{"name": {name}, "email": {email}, "country": {"FR"}, "postcode": {"75011"},
		"comment": {"For my kids"}, "public": {"1"}, "updates": {"1"}}
}

func TestSignConfirmAndCount(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for schools")
	visitor := ta.client()

	r := ta.do(visitor, "POST", "/c/"+slug+"/sign", signForm("Ada Lovelace", "ada@example.org"), "Origin", "https://partner.example")
	if r.status != http.StatusOK || !strings.Contains(r.body, "ada@example.org") {
		t.Fatalf("sign from a partner site: status %d, want 200 with the check-your-email page naming the address", r.status)
	}
	mail := ta.lastMailTo("ada@example.org")
	m := confirmLink.FindStringSubmatch(mail)
	if m == nil {
		t.Fatalf("no confirmation link in the mail:\n%s", mail)
	}
	// Mail scanners open links: a GET must not confirm.
	// The page and JSON are read (and cached) before the confirmation, so
	// the counts after it show the cache is dropped at once.
	if j := ta.do(visitor, "GET", "/c/"+slug+".json", nil); !strings.Contains(j.body, `"signature_count":0`) {
		t.Fatalf("JSON before confirming: %s", j.body)
	}
	ta.do(visitor, "GET", "/c/"+slug, nil)
	r = ta.do(visitor, "GET", "/confirm/"+m[1], nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, "Clean air for schools") {
		t.Fatalf("GET confirm: status %d; want the button page naming the cause", r.status)
	}
	if n := ta.count(`SELECT count(*) FROM signatures WHERE confirmed_at IS NOT NULL`); n != 0 {
		t.Fatalf("a GET of the confirmation link confirmed %d signatures", n)
	}
	r = ta.do(visitor, "POST", "/confirm/"+m[1], nil)
	if r.status != http.StatusOK {
		t.Fatalf("POST confirm: status %d", r.status)
	}
	// Signing again, with the address written differently, counts once.
	r = ta.do(visitor, "POST", "/c/"+slug+"/sign", signForm("Ada L.", " ADA@Example.org "))
	if r.status != http.StatusOK {
		t.Fatalf("second signing: status %d", r.status)
	}
	if !strings.Contains(ta.lastMailTo("ada@example.org"), "already") {
		t.Errorf("the second mail does not say the person had already signed")
	}
	r = ta.do(visitor, "GET", "/c/"+slug+".json", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"signature_count":1`) {
		t.Fatalf("JSON: status %d, body %s; want signature_count 1", r.status, r.body)
	}
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("JSON CORS header = %q, want *", got)
	}
	r = ta.do(visitor, "GET", "/c/"+slug, nil)
	if !strings.Contains(r.body, `value="1"`) {
		t.Errorf("the cause page's progress bar does not count the confirmation")
	}
	if !strings.Contains(r.body, "Ada") || !strings.Contains(r.body, "For my kids") {
		t.Errorf("the cause page does not show the public signer and their comment")
	}
	if strings.Contains(r.body, "Lovelace") {
		t.Errorf("the cause page shows a signer's last name")
	}
	// Stats: one confirmed, one still waiting for their link.
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign", signForm("Bob Pending", "bob@example.org")); r.status != http.StatusOK {
		t.Fatalf("third signing: status %d", r.status)
	}
	cz, _ := ta.store.FindCauseBySlug(context.Background(), slug)
	if st, err := ta.store.Stats(context.Background(), cz.ID); err != nil || st.Confirmed != 1 || st.Pending != 1 {
		t.Errorf("stats = %+v, %v; want 1 confirmed and 1 pending", st, err)
	}
	// The organiser sees the whole signer, with the country named.
	r = ta.do(org, "GET", "/campaigns/"+slug, nil)
	if !strings.Contains(r.body, "Ada Lovelace") || !strings.Contains(r.body, "ada@example.org") || !strings.Contains(r.body, ">France</abbr>") {
		t.Errorf("the organiser's signature list lacks Ada's name, address or country")
	}
}

func TestSignValidationKeepsWhatWasTyped(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Trees")
	form := signForm("Zoë <b>Kravitz</b>", "not-an-email")
	form.Set("comment", "Ce n’est qu’un début")
	r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", form)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", r.status)
	}
	for _, want := range []string{`value="Zoë &lt;b&gt;Kravitz&lt;/b&gt;"`, `value="not-an-email"`, "Ce n’est qu’un début", `aria-invalid="true"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the re-rendered form lacks %s", want)
		}
	}
	if strings.Contains(r.body, "<b>Kravitz</b>") {
		t.Errorf("the name was not escaped")
	}
	if n := ta.count(`SELECT count(*) FROM signatures`); n != 0 {
		t.Errorf("%d signatures stored from an invalid form", n)
	}
	// Invalid UTF-8 is a field error, not a crash.
	bad := signForm("\xff\xfe", "x@example.org")
	if r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", bad); r.status != http.StatusUnprocessableEntity {
		t.Errorf("invalid UTF-8: status %d, want 422", r.status)
	}
}

func TestSignRefusals(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Bees")
	visitor := ta.client()

	// A filled honeypot looks like success and stores nothing.
	hp := signForm("Bot", "bot@example.org")
	hp.Set("website", "http://spam.example")
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign", hp); r.status != http.StatusOK {
		t.Errorf("honeypot: status %d, want 200", r.status)
	}
	if n := ta.count(`SELECT count(*) FROM signatures`); n != 0 {
		t.Errorf("honeypot signing stored %d signatures", n)
	}
	if r := ta.do(visitor, "POST", "/c/no-such-cause/sign", signForm("A", "a@example.org")); r.status != http.StatusNotFound {
		t.Errorf("unknown cause: status %d, want 404", r.status)
	}
	big := signForm("A", "a@example.org")
	big.Set("comment", strings.Repeat("x", 200<<10))
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign", big); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", r.status)
	}
	// A link that matches no signature, cut short by a mail program or
	// made up, says what to check and how to get a new one.
	ta.do(visitor, "POST", "/c/"+slug+"/sign", signForm("Cut Short", "cut@example.org"))
	cut := confirmLink.FindStringSubmatch(ta.lastMailTo("cut@example.org"))[1]
	for _, tok := range []string{"garbage", strings.Repeat("a", 48), "0000000000000001" + strings.Repeat("A", 32), cut[:len(cut)-3]} {
		for _, method := range []string{"GET", "POST"} {
			r := ta.do(visitor, method, "/confirm/"+url.PathEscape(tok), nil)
			if r.status != http.StatusNotFound || !strings.Contains(r.body, "This link does not work") || !strings.Contains(r.body, "sign again") {
				t.Errorf("%s confirm %q: status %d, want 404 saying what to do", method, tok, r.status)
			}
		}
	}
	if r := ta.do(visitor, "GET", "/confirm/"+url.PathEscape("../../etc/passwd"), nil); r.status != http.StatusNotFound {
		t.Errorf("confirm with a path in it: status %d, want 404", r.status)
	}
	if r := ta.do(visitor, "GET", "/confirm/garbage", nil, "Accept-Language", "fr"); r.status != http.StatusNotFound || !strings.Contains(r.body, "Ce lien ne fonctionne pas") {
		t.Errorf("confirm link that does not work, in French: status %d", r.status)
	}
	// Closing refuses signatures with a clear page.
	if r := ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"closed"}}); r.status != http.StatusSeeOther {
		t.Fatalf("close: status %d", r.status)
	}
	r := ta.do(visitor, "POST", "/c/"+slug+"/sign", signForm("Late", "late@example.org"))
	if r.status != http.StatusConflict {
		t.Errorf("signing a closed cause: status %d, want 409", r.status)
	}
	if n := ta.count(`SELECT count(*) FROM signatures WHERE email = 'late@example.org'`); n != 0 {
		t.Errorf("a closed cause stored %d signatures", n)
	}
}

func TestOrganiserBoundaries(t *testing.T) {
	ta := newTestApp(t, nil)
	alice, _ := ta.organiser("Alice", "alice@example.org", false)
	bob, _ := ta.organiser("Bob", "bob@example.org", false)
	admin, _ := ta.organiser("Ada Admin", "admin@example.org", true)
	slug := ta.publishedCause(alice, "Alice's cause")

	for _, path := range []string{"/campaigns/" + slug, "/campaigns/" + slug + "/edit", "/campaigns/" + slug + "/signatures.csv"} {
		if r := ta.do(bob, "GET", path, nil); r.status != http.StatusNotFound && r.status != http.StatusForbidden {
			t.Errorf("another organiser GET %s: status %d, want 403 or 404", path, r.status)
		}
		if r := ta.do(admin, "GET", path, nil); r.status != http.StatusOK {
			t.Errorf("admin GET %s: status %d, want 200", path, r.status)
		}
	}
	if r := ta.do(bob, "POST", "/campaigns/"+slug+"/edit", url.Values{"title": {"Hijacked"}, "summary": {"s"}, "target": {"t"}, "goal": {"5"}}); r.status != http.StatusNotFound {
		t.Errorf("another organiser POST edit: status %d, want 404", r.status)
	}
	// A cross-origin post is refused before any login redirect.
	anon := ta.client()
	r := ta.do(anon, "POST", "/campaigns/new", url.Values{"title": {"x"}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusForbidden {
		t.Errorf("cross-origin POST without login: status %d, want 403", r.status)
	}
	r = ta.do(alice, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"closed"}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusForbidden {
		t.Errorf("cross-origin POST with a session: status %d, want 403", r.status)
	}
	if r := ta.do(anon, "GET", "/dashboard", nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("dashboard without login: status %d → %s, want 303 to /login", r.status, r.header.Get("Location"))
	}
}

func TestDraftsAndPublishing(t *testing.T) {
	ta := newTestApp(t, nil)
	ctx := context.Background()
	// An organiser who has not confirmed their email cannot publish.
	o, err := ta.store.CreateOrganiser(ctx, "New", "new@example.org", "a long enough password", false, false)
	if err != nil {
		t.Fatal(err)
	}
	c := ta.client()
	if r := ta.do(c, "POST", "/login", url.Values{"email": {o.Email}, "password": {"a long enough password"}}); r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	r := ta.do(c, "POST", "/campaigns/new", url.Values{"title": {"Draft cause"}, "summary": {"s"}, "target": {"t"}, "goal": {"10"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, r.body)
	}
	slug := strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
	if r := ta.do(ta.client(), "GET", "/c/"+slug, nil); r.status != http.StatusNotFound {
		t.Errorf("a visitor sees a draft: status %d, want 404", r.status)
	}
	if r := ta.do(c, "GET", "/c/"+slug, nil); r.status != http.StatusOK {
		t.Errorf("its organiser cannot preview the draft: status %d", r.status)
	}
	if r := ta.do(c, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"published"}}); r.status != http.StatusConflict {
		t.Errorf("publishing before confirming the email: status %d, want 409", r.status)
	}
	for _, bad := range []string{"", "banana", "Published", "<b>closed</b>"} {
		if r := ta.do(c, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {bad}}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("status %q: answer %d, want 422", bad, r.status)
		}
	}
	// An invalid cause form keeps what was typed.
	r = ta.do(c, "POST", "/campaigns/new", url.Values{"title": {strings.Repeat("T", 121)}, "summary": {"kept summary"}, "target": {""}, "goal": {"lots"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "kept summary") {
		t.Errorf("invalid cause form: status %d, want 422 with the summary kept", r.status)
	}
}

func TestCauseEndsAndCloses(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Short lived")
	cz, err := ta.store.FindCauseBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().UTC().Add(-time.Hour)
	if _, err := ta.writer.Exec(`UPDATE causes SET ends_at = ? WHERE id = ?`, past, cz.ID); err != nil {
		t.Fatal(err)
	}
	if r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("A", "a@example.org")); r.status != http.StatusConflict {
		t.Errorf("signing past the end date: status %d, want 409", r.status)
	}
	if n, err := ta.store.CloseExpired(context.Background()); err != nil || n != 1 {
		t.Fatalf("CloseExpired = %d, %v; want 1", n, err)
	}
	r := ta.do(ta.client(), "GET", "/c/"+slug+".json", nil)
	if !strings.Contains(r.body, `"status":"closed"`) {
		t.Errorf("JSON after the end date: %s", r.body)
	}
}

func TestErrorPages(t *testing.T) {
	ta := newTestApp(t, nil)
	c := ta.client()
	r := ta.do(c, "GET", "/c/nothing-here", nil)
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "<h1>") {
		t.Errorf("unknown cause: status %d, want a 404 page", r.status)
	}
	r = ta.do(c, "GET", "/c/nothing-here", nil, "Accept-Language", "fr-FR,fr;q=0.9")
	if !strings.Contains(r.body, `lang="fr"`) || !strings.Contains(r.body, "introuvable") {
		t.Errorf("the French 404 page is not in French")
	}
	if r := ta.do(c, "GET", "/c/nothing.json", nil); r.status != http.StatusNotFound || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("unknown cause JSON: status %d, type %s", r.status, r.header.Get("Content-Type"))
	}
	if r := ta.do(c, "GET", "/healthz", nil); r.status != http.StatusOK {
		t.Errorf("healthz: %d", r.status)
	}
}
