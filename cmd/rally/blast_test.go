package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
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

	"github.com/chromedp/chromedp"
)

// confirmedSigner signs the cause as name, in lang, and confirms through
// the mailed link.
func (ta *testApp) confirmedSigner(slug, name, email, lang string) {
	ta.t.Helper()
	visitor := ta.client()
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign?lang="+lang, signForm(name, email)); r.status != http.StatusOK && r.status != http.StatusSeeOther {
		ta.t.Fatalf("sign as %s: status %d", email, r.status)
	}
	m := confirmLink.FindStringSubmatch(ta.lastMailTo(email))
	if m == nil {
		ta.t.Fatalf("no confirmation link mailed to %s", email)
	}
	if r := ta.do(visitor, "POST", "/confirm/"+m[1], nil); r.status >= 400 {
		ta.t.Fatalf("confirm %s: status %d", email, r.status)
	}
}

// runBlasts does what the server's blast loop and mail worker do, until
// there is nothing left to do now.
func (ta *testApp) runBlasts() {
	ta.t.Helper()
	ctx := context.Background()
	for range 1000 {
		busy, err := ta.blasts.Step(ctx)
		if err != nil {
			ta.t.Fatal(err)
		}
		n, err := ta.worker.DeliverDue(ctx)
		if err != nil {
			ta.t.Fatal(err)
		}
		if !busy && n == 0 {
			if busy, _ = ta.blasts.Step(ctx); !busy {
				return
			}
		}
	}
	ta.t.Fatal("blasts never settled")
}

// blastJSON reads a blast's figures.
func (ta *testApp) blastJSON(c *http.Client, path string) map[string]any {
	ta.t.Helper()
	r := ta.do(c, "GET", path+".json", nil)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		ta.t.Fatalf("GET %s.json: status %d: %v", path, r.status, err)
	}
	return m
}

// newestEMLTo returns the name of the newest mail the dev outbox wrote to
// an address.
func newestEMLTo(t *testing.T, dir, to string) string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	sort.Strings(names)
	for i := len(names) - 1; i >= 0; i-- {
		b, err := os.ReadFile(names[i])
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			continue
		}
		if a, err := mail.ParseAddress(msg.Header.Get("To")); err == nil && strings.EqualFold(a.Address, to) {
			return filepath.Base(names[i])
		}
	}
	t.Fatalf("no mail to %s in the dev outbox", to)
	return ""
}

var blastPathRE = regexp.MustCompile(`^/campaigns/[a-z0-9-]+/blasts/[0-9]+$`)

// A tracked link asked for with HEAD, as link checkers and some scanners
// do, redirects like GET but is counted as a scanner's click, never a
// person's: the server hands HEAD to the GET routes marked as HEAD.
func TestHeadOnATrackedLinkIsAScannerClick(t *testing.T) {
	ta := newTestApp(t, nil)
	srv := httptest.NewServer(ta.handler())
	t.Cleanup(srv.Close)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for schools")
	ta.confirmedSigner(slug, "Ada Lovelace", "ada@example.org", "en")
	r := ta.do(org, "POST", "/campaigns/"+slug+"/blasts", url.Values{"subject": {"News"}, "body": {"Hello {first_name|friend}"},
		"cta_label": {"Read"}, "cta_url": {"https://example.org/read"}})
	path := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !blastPathRE.MatchString(path) {
		t.Fatalf("save a draft: status %d, Location %q", r.status, path)
	}
	if r := ta.do(org, "POST", path+"/send", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("send: status %d\n%s", r.status, r.body)
	}
	ta.runBlasts()
	ta.blasts.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
	eml := ta.lastMailTo("ada@example.org")
	link := regexp.MustCompile(`https?://[^/\s]+(/t/[A-Za-z0-9_-]+)`).FindStringSubmatch(eml)
	if link == nil {
		t.Fatalf("no tracked link in the mail:\n%s", eml)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+link[1], nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://example.org/read" {
		t.Errorf("HEAD: status %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	j := ta.blastJSON(org, path)
	if j["clicks"] != 1.0 || j["human_clicks"] != 0.0 {
		t.Errorf("after a HEAD: clicks %v, human clicks %v; want 1 and 0", j["clicks"], j["human_clicks"])
	}
}

// chromeAgent is an ordinary desktop browser's user agent: headless
// Chromium names itself HeadlessChrome, which blasts count as a scanner.
const chromeAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"

// The blast loop as an organiser and a supporter live it: the organiser
// writes a blast, previews it, sends it (the browser asks "Send to 2
// people?"); the supporter opens the mail, clicks its button and lands on
// the page it names; the blast counts the click as a person's. Every page
// on the way passes axe in English and French, light and dark, at 390 px.
func TestBrowserBlast(t *testing.T) {
	ta := newTestApp(t, nil)
	ctx := browser(t, chromedp.UserAgent(chromeAgent))
	axe := axeSource(t)
	base := ta.srv.URL
	must := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for Rue des Tilleuls")
	ta.confirmedSigner(slug, "Ada Lovelace", "ada@example.org", "en")
	ta.confirmedSigner(slug, "Zoé Martin", "zoe@example.org", "fr")
	target := base + "/c/" + slug

	must("log in", chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(chromedp.ID("email"), "olive@example.org"),
		chromedp.SendKeys(chromedp.ID("password"), "a long enough password"),
		submit(`form[action^="/login"] button[type=submit]`),
	))
	must("open the blasts", chromedp.Do(ctx, chromedp.Navigate(base+"/campaigns/"+slug+"/blasts")))
	checkPage(t, ctx, axe, "blasts", base+"/campaigns/"+slug+"/blasts")
	must("compose with a mistake", chromedp.Do(ctx,
		chromedp.Navigate(base+"/campaigns/"+slug+"/blasts/new"),
		chromedp.SendKeys(chromedp.ID("subject"), "{first_name|Friend}, the mayor answers on {day}"),
		chromedp.SendKeys(chromedp.ID("body"), "The council meets on **Monday**."),
		chromedp.SendKeys(chromedp.ID("cta_label"), "Read the answer"),
		chromedp.SetValue(chromedp.ID("cta_url"), target),
		submit(`main form button[type=submit]`),
	))
	if body := text(t, ctx, "main"); !strings.Contains(body, "{day} is not a tag") {
		t.Fatalf("the form back does not say what is wrong:\n%s", body)
	}
	checkA11y(t, ctx, axe, "the compose form with an error")
	shot(t, ctx, "blast-compose-errors-390")
	must("fix it, and add the French version", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("subject"), "{first_name|Friend}, the mayor answers"),
		chromedp.Click(chromedp.CSS("details.more summary")),
		chromedp.SendKeys(chromedp.ID("subject_fr"), "{first_name|Ami}, le maire répond"),
		chromedp.SendKeys(chromedp.ID("body_fr"), "Le conseil se réunit **lundi**."),
		chromedp.SendKeys(chromedp.ID("cta_label_fr"), "Lire la réponse"),
		submit(`main form button[type=submit]`),
	))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	must("location", err)
	path := strings.TrimPrefix(loc, base)
	if !blastPathRE.MatchString(path) {
		t.Fatalf("after saving the browser is at %s, want the blast's page", loc)
	}
	checkPage(t, ctx, axe, "draft blast", loc)
	checkPage(t, ctx, axe, "compose", base+"/campaigns/"+slug+"/blasts/new")
	must("back to the draft", chromedp.Do(ctx, chromedp.Navigate(loc)))
	if body := text(t, ctx, "main"); !strings.Contains(body, "2 people will get it") {
		t.Errorf("the draft's page does not give the audience:\n%s", body)
	}
	// The page asks before sending; this browser says yes, and keeps the
	// question for the test to read after the page has gone.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = function (m) { sessionStorage.setItem("asked", m); return true; }; true`))
	must("answer the question", err)
	must("send", chromedp.Do(ctx, submit(`form[action$="/send"] button.primary`)))
	if q, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("asked") || ""`)); err != nil || q != "Send to 2 people?" {
		t.Errorf("before sending the page asked %q, %v; want \"Send to 2 people?\"", q, err)
	}
	ta.runBlasts()
	must("reload", chromedp.Do(ctx, chromedp.Navigate(loc)))
	checkPage(t, ctx, axe, "sent blast", loc)

	// The supporter's mail, opened as the dev outbox shows it, its button clicked.
	ta.blasts.SetClock(func() time.Time { return time.Now().Add(time.Minute) })
	file := newestEMLTo(t, ta.mailDir, "ada@example.org")
	must("open the mail", chromedp.Do(ctx,
		chromedp.Navigate(base+"/dev/mail/"+file+"/html"),
		// The viewer opens links in a new tab; this test follows in this one.
		chromedp.RemoveAttribute(chromedp.CSS("base"), "target"),
	))
	shot(t, ctx, "blast-mail-390")
	must("click the button", chromedp.Do(ctx, submit(`a[href*="/t/"][style*="display:inline-block"]`)))
	landed, err := chromedp.Run(ctx, chromedp.Location())
	must("location", err)
	if landed != target {
		t.Errorf("the button led to %s, want %s", landed, target)
	}
	j := ta.blastJSON(org, path)
	if j["status"] != "sent" || j["sent"] != 2.0 || j["clicks"] != 1.0 || j["unique_clickers"] != 1.0 || j["human_clicks"] != 1.0 {
		t.Errorf("after the click the blast says %v; want sent to 2, one click, by a person", j)
	}

	// The unsubscribe page, from the French signer's mail.
	zoe := decodeQP(readFile(t, filepath.Join(ta.mailDir, newestEMLTo(t, ta.mailDir, "zoe@example.org"))))
	u := regexp.MustCompile(`/u/[A-Za-z0-9_-]+`).FindString(zoe)
	if u == "" || !strings.Contains(zoe, "parce que vous avez signé") {
		t.Fatalf("the French signer's mail has no unsubscribe link or is not in French:\n%s", zoe)
	}
	checkPage(t, ctx, axe, "unsubscribe", base+u)
	must("unsubscribe", chromedp.Do(ctx, chromedp.Navigate(base+u+"?lang=fr"), submit(`main form button[type=submit]`)))
	if body := text(t, ctx, "main"); !strings.Contains(body, "désabonné") {
		t.Errorf("after unsubscribing the page says:\n%s", body)
	}
	checkA11y(t, ctx, axe, "unsubscribed (fr)")
	if j := ta.blastJSON(org, path); j["unsubscribes"] != 1.0 {
		t.Errorf("unsubscribes %v, want 1", j["unsubscribes"])
	}
}

// checkPage runs axe on a page in English and French, light and dark, at
// 390 px wide (the browser's size), and takes screenshots at 390 and 1280
// px when RALLY_SCREENSHOTS names a folder.
func checkPage(t *testing.T, ctx context.Context, axe, name, pageURL string) {
	t.Helper()
	sep := "?"
	if strings.Contains(pageURL, "?") {
		sep = "&"
	}
	for _, lang := range []string{"en", "fr"} {
		for _, scheme := range []string{"light", "dark"} {
			err := chromedp.Do(ctx, colorScheme(scheme), chromedp.Navigate(pageURL+sep+"lang="+lang))
			if err != nil {
				t.Fatalf("%s (%s, %s): %v", name, lang, scheme, err)
			}
			checkA11y(t, ctx, axe, name+" ("+lang+", "+scheme+")")
			shot(t, ctx, "blast-"+strings.ReplaceAll(name, " ", "-")+"-"+lang+"-"+scheme+"-390")
			if os.Getenv("RALLY_SCREENSHOTS") != "" && lang == "en" {
				must := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(pageURL+sep+"lang="+lang))
				if must == nil {
					shot(t, ctx, "blast-"+strings.ReplaceAll(name, " ", "-")+"-"+lang+"-"+scheme+"-1280")
				}
				_ = chromedp.Do(ctx, chromedp.EmulateViewport(390, 844))
			}
		}
	}
	if err := chromedp.Do(ctx, colorScheme("light"), chromedp.Navigate(pageURL+sep+"lang=en")); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// blastPages renders every page of blasts, in English and French, for the
// markup check (TestPagesAreValidHTML): the list, the form and its errors,
// a draft, a blast sending and sent, and the unsubscribe pages. slug's
// cause must have confirmed signers who asked for news.
func blastPages(t *testing.T, ta *testApp, org *http.Client, slug string, keep func(string, resp, int)) {
	t.Helper()
	r := ta.do(org, "POST", "/campaigns/"+slug+"/blasts", url.Values{"subject": {"{first_name|Friend}, the mayor answers"},
		"body": {"The council meets on **Monday**.\n\n- [Read the plan](https://example.org/plan)"}, "cta_label": {"Write to the mayor"},
		"cta_url": {"https://example.org/write"}, "subject_fr": {"{first_name|Ami}, le maire répond"}, "body_fr": {"Le conseil se réunit lundi."},
		"countries": {"FR"}, "track_opens": {"1"}})
	path := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !blastPathRE.MatchString(path) {
		t.Fatalf("save a blast: status %d", r.status)
	}
	for _, lang := range []string{"en", "fr"} {
		q := "?lang=" + lang
		keep("blasts-"+lang, ta.do(org, "GET", "/campaigns/"+slug+"/blasts"+q, nil), http.StatusOK)
		keep("blast-new-"+lang, ta.do(org, "GET", "/campaigns/"+slug+"/blasts/new"+q, nil), http.StatusOK)
		keep("blast-errors-"+lang, ta.do(org, "POST", "/campaigns/"+slug+"/blasts"+q, url.Values{"subject": {"Hi {nope}"},
			"cta_url": {"ftp://x"}, "subject_fr": {"Salut"}, "countries": {"France"}}), http.StatusUnprocessableEntity)
		keep("blast-edit-"+lang, ta.do(org, "GET", path+"/edit"+q, nil), http.StatusOK)
		keep("blast-draft-"+lang, ta.do(org, "GET", path+q, nil), http.StatusOK)
		keep("blast-schedule-error-"+lang, ta.do(org, "POST", path+"/send"+q, url.Values{"send_at": {"2001-01-01T10:00"}, "tz": {"UTC"}}),
			http.StatusUnprocessableEntity)
	}
	if r := ta.do(org, "POST", path+"/send", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("send: status %d", r.status)
	}
	keep("blast-sending-en", ta.do(org, "GET", path+"?lang=en", nil), http.StatusOK)
	keep("blast-sending-fr", ta.do(org, "GET", path+"?lang=fr", nil), http.StatusOK)
	ta.runBlasts()
	keep("blast-sent-en", ta.do(org, "GET", path+"?lang=en", nil), http.StatusOK)
	keep("blast-sent-fr", ta.do(org, "GET", path+"?lang=fr", nil), http.StatusOK)
	u := regexp.MustCompile(`/u/[A-Za-z0-9_-]+`).FindString(ta.lastMailTo("ada-fr@example.org"))
	if u == "" {
		t.Fatal("no unsubscribe link in the blast")
	}
	visitor := ta.client()
	for _, lang := range []string{"en", "fr"} {
		keep("unsubscribe-"+lang, ta.do(visitor, "GET", u+"?lang="+lang, nil), http.StatusOK)
		keep("unsubscribed-"+lang, ta.do(visitor, "POST", u+"?lang="+lang, url.Values{"scope": {"all"}}), http.StatusOK)
	}
}

// A draft's page counts a signer who confirms at once: the audience count
// it keeps between reloads is forgotten when the cause changes.
func TestBlastAudienceCountsAConfirmationAtOnce(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for schools")
	ta.confirmedSigner(slug, "Ada Lovelace", "ada@example.org", "en")
	r := ta.do(org, "POST", "/campaigns/"+slug+"/blasts", url.Values{"subject": {"News"}, "body": {"Hello"},
		"cta_label": {"Read"}, "cta_url": {"https://example.org/read"}})
	path := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !blastPathRE.MatchString(path) {
		t.Fatalf("save a draft: status %d, Location %q", r.status, path)
	}
	if body := ta.do(org, "GET", path, nil).body; !strings.Contains(body, `<span class="n">1</span> person will get it`) {
		t.Fatalf("the draft's page does not count the one signer:\n%s", body)
	}
	ta.confirmedSigner(slug, "Grace Hopper", "grace@example.org", "en")
	if body := ta.do(org, "GET", path, nil).body; !strings.Contains(body, `<span class="n">2</span> people will get it`) {
		t.Errorf("after a second confirmation the draft's page does not count two:\n%s", body)
	}
}
