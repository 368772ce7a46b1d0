package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// otherOrigins records every request a tab makes to an origin other than
// base's: Rally's pages load nothing from elsewhere.
type otherOrigins struct {
	base string
	mu   sync.Mutex
	seen []string
}

// watch starts recording the requests of the tab of ctx.
func (o *otherOrigins) watch(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventRequestWillBeSent)
		if !ok || e.Request == nil {
			return
		}
		u := e.Request.URL
		if strings.HasPrefix(u, "data:") || u == o.base || strings.HasPrefix(u, o.base+"/") {
			return
		}
		o.mu.Lock()
		o.seen = append(o.seen, u)
		o.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// check fails the test on each request to another origin recorded since
// the last check; page names where it was made.
func (o *otherOrigins) check(t *testing.T, page string) {
	t.Helper()
	o.mu.Lock()
	seen := o.seen
	o.seen = nil
	o.mu.Unlock()
	for _, u := range seen {
		t.Errorf("%s: requested %s, from another origin", page, u)
	}
}

// TestBrowserPagesLoadNothingFromElsewhere opens every page a visitor and
// an organiser meet, the sharing pages among them, and fails on any script,
// font, image, frame or other request that leaves Rally's own origin: a
// signer's visit is told to nobody else.
func TestBrowserPagesLoadNothingFromElsewhere(t *testing.T) {
	s := newUISite(t)
	ctx := browserWithin(t, 3*time.Minute)
	if err := chromedp.Do(ctx, viewport(390)); err != nil {
		t.Fatal(err)
	}
	o := &otherOrigins{base: s.ta.srv.URL}
	o.watch(t, ctx)
	pages := 0
	s.eachPage(t, ctx, func(name string) {
		// Let late requests (images below the fold, scripts) start. A
		// page still settling after a redirect can drop the script's
		// context under it once: ask again.
		for try := 1; ; try++ {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete"`))
			if err == nil {
				break
			}
			if try == 3 {
				t.Fatalf("%s: %v", name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		o.check(t, name)
		pages++
	})
	// The watch sees Rally's own requests too: a test that saw nothing
	// would prove nothing.
	if pages < 20 {
		t.Fatalf("only %d pages opened", pages)
	}
}

// A signer shares their personal link through the thank-you page's copy
// button; a friend, in a browser of their own, opens the link, signs and
// confirms; the first signer's private page, linked from their mail, then
// counts the friend.
func TestBrowserPersonalLinkBringsARecruit(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for Rue des Tilleuls")
	base := ta.srv.URL
	ctx := browser(t)
	must := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	signIn := func(ctx context.Context, page, name, email string) {
		t.Helper()
		must("sign as "+name, chromedp.Do(ctx,
			chromedp.Navigate(page),
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.SendKeys(chromedp.ID("email"), email),
			chromedp.SetValue(chromedp.ID("country"), "FR"),
			submit(`form[action$="/sign"] button[type=submit]`),
		))
		m := confirmLink.FindString(ta.lastMailTo(email))
		if m == "" {
			t.Fatalf("no confirmation link mailed to %s", email)
		}
		must("confirm as "+name, chromedp.Do(ctx, chromedp.Navigate(base+m), submit(`main form button[type=submit]`)))
	}

	signIn(ctx, base+"/c/"+slug, "Ada Lovelace", "ada@example.org")
	shown, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("share-url")))
	must("read the personal link", err)
	if !strings.HasPrefix(shown, base+"/c/"+slug+"?ref=") {
		t.Fatalf("the thank-you page's personal link is %q", shown)
	}
	// The copy button puts the link on the clipboard, and says so.
	for _, p := range []string{"clipboard-read", "clipboard-write"} {
		_, err = chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{Origin: base,
			Permission: &cdpbrowser.PermissionDescriptor{Name: p}, Setting: cdpbrowser.PermissionSettingGranted})
		must("allow the clipboard", err)
	}
	must("copy the link", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-copy="#share-url"]`))))
	copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	must("read the clipboard", err)
	if copied != shown {
		t.Fatalf("the copy button copied %q, want the personal link %q", copied, shown)
	}
	if label := text(t, ctx, `button[data-copy="#share-url"]`); label != "Copied!" {
		t.Errorf("after copying, the button says %q", label)
	}

	// Ben, in a browser context of his own (no cookie of Ada's), opens the
	// link Ada pasted to him.
	friend, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	signIn(friend, copied, "Ben Bell", "ben@example.org")
	if body := text(t, friend, "main"); !strings.Contains(body, "Thank you, Ben") {
		t.Fatalf("Ben's confirmation did not end on the thank-you page:\n%s", body)
	}
	code := strings.TrimPrefix(shown, base+"/c/"+slug+"?ref=")
	if n := ta.count(`SELECT count(*) FROM signatures WHERE email = 'ben@example.org' AND ref = ? AND source = 'link' AND confirmed_at IS NOT NULL`, code); n != 1 {
		t.Errorf("Ben's counted signatures through Ada's link: %d, want 1", n)
	}

	recruits := recruitsLink.FindString(ta.lastMailTo("ada@example.org"))
	if recruits == "" {
		t.Fatal("Ada's mail after confirming has no link to her recruits")
	}
	must("open Ada's recruits page", chromedp.Do(ctx, chromedp.Navigate(base+recruits)))
	if body := text(t, ctx, "main"); !strings.Contains(body, "1 person signed through you") {
		t.Errorf("Ada's recruits page does not count Ben:\n%s", body)
	}
	// The cause page that Ada's link opens shows her count to nobody.
	must("open Ada's link", chromedp.Do(ctx, chromedp.Navigate(shown)))
	if body := text(t, ctx, "main"); strings.Contains(body, "signed through you") {
		t.Error("the cause page of Ada's link tells everyone who has it how many she brought")
	}
}

// A partner site (localhost) frames the sign form of a cause on Rally
// (127.0.0.1), in a browser that blocks third-party cookies: a visitor
// signs inside the frame, gets the "check your email" answer there, and
// the signature counts once confirmed from the mail: no cookie is needed.
func TestBrowserEmbedSignsInsideAnotherSite(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for Rue des Tilleuls")
	embed := ta.srv.URL + "/c/" + slug + "/embed"
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Partner</title><h1>Our friends' petition</h1>
<iframe src="%s" title="Sign the petition" width="400" height="900"></iframe>`, embed)
	}))
	defer partner.Close()
	host := strings.Replace(partner.URL, "127.0.0.1", "localhost", 1)
	if !strings.Contains(ta.srv.URL, "127.0.0.1") {
		t.Fatalf("Rally listens at %s: the test needs it on 127.0.0.1", ta.srv.URL)
	}

	ctx := browser(t)
	_, err := chromedp.Call(ctx, network.SetCookieControls, network.SetCookieControlsParams{EnableThirdPartyCookieRestriction: true})
	if err != nil {
		t.Fatalf("block third-party cookies: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(host+"/")); err != nil {
		t.Fatal(err)
	}
	// The frame is another site's: Chromium runs it as a target of its own.
	var frame *target.Info
	for deadline := time.Now().Add(10 * time.Second); frame == nil && time.Now().Before(deadline); {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, embed) {
				frame = info
			}
		}
		if frame == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if frame == nil {
		t.Fatal("the partner's page shows no frame of the sign form: framing refused?")
	}
	fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(frame.TargetID))
	defer cancel()
	o := &otherOrigins{base: ta.srv.URL}
	o.watch(t, fctx)
	// A frame the browser refused to show never gets its form: fail soon,
	// though not so soon that a loaded machine (CI, -race) fails a good one.
	sctx, cancelSign := context.WithTimeout(fctx, 45*time.Second)
	defer cancelSign()
	if err := chromedp.Do(sctx,
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("name"), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.org"),
		chromedp.SetValue(chromedp.ID("country"), "FR"),
		chromedp.Click(chromedp.CSS(`main form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".sent-to")),
	); err != nil {
		t.Fatalf("sign inside the frame (was framing refused?): %v", err)
	}
	if to := text(t, fctx, ".sent-to"); to != "ada@example.org" {
		t.Errorf("the frame's check-your-email answer names %q", to)
	}
	o.check(t, "the embedded form")
	m := confirmLink.FindStringSubmatch(ta.lastMailTo("ada@example.org"))
	if m == nil {
		t.Fatal("no confirmation mail for the signing inside the frame")
	}
	if r := ta.do(ta.client(), "POST", "/confirm/"+m[1], url.Values{}); r.status != http.StatusOK {
		t.Fatalf("confirm: status %d", r.status)
	}
	if n := ta.count(`SELECT count(*) FROM signatures WHERE email = 'ada@example.org' AND source = 'embed' AND confirmed_at IS NOT NULL`); n != 1 {
		t.Errorf("counted signatures through the embed: %d, want 1", n)
	}
}

// The poster of a cause with a long title and summary, in French, prints on
// one A4 page: the page's own size and margins, without the site's header
// and footer.
func TestBrowserPosterPrintsOnOneA4Page(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	// As long as the form takes (120 and 280 characters).
	cut := func(s string, n int) string { return strings.TrimSpace(string([]rune(s)[:n])) }
	r := ta.do(org, "POST", "/campaigns/new", url.Values{
		"title":   {cut(strings.Repeat("Sauvons la forêt de Compiègne et ses chênes centenaires ", 3), 120)},
		"summary": {cut(strings.Repeat("La forêt est menacée par un projet de rocade qui couperait ses allées et ses étangs en deux. ", 4), 280)},
		"target":  {"Le préfet de l’Oise et le conseil départemental"}, "goal": {"1000"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create the cause: status %d\n%s", r.status, r.body)
	}
	slug := strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
	ta.publish(org, slug)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(ta.srv.URL+"/c/"+slug+"/poster?lang=fr")); err != nil {
		t.Fatal(err)
	}
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
	if err != nil {
		t.Fatal(err)
	}
	pages := regexp.MustCompile(`/Type\s*/Page\b`).FindAll(pdf, -1)
	if len(pages) != 1 {
		t.Errorf("the poster prints on %d pages, want 1", len(pages))
	}
	// 595×842 points is A4.
	if !regexp.MustCompile(`/MediaBox\s*\[\s*0 0 59[45]\.\d* 84[12]\.\d*\s*\]`).Match(pdf) {
		t.Errorf("the poster's page is not A4: %s", regexp.MustCompile(`/MediaBox\s*\[[^\]]*\]`).Find(pdf))
	}
}

// A draft's share card and QR code, which its organiser sees on the
// cause's overview, are kept by no shared cache; a published cause's are.
func TestDraftPicturesStayPrivate(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	r := ta.do(org, "POST", "/campaigns/new", url.Values{"title": {"More bins on the beach"}, "summary": {"Litter."},
		"target": {"The council"}, "goal": {"100"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create the draft: status %d", r.status)
	}
	draft := strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
	published := ta.publishedCause(org, "Clean air")
	for _, p := range []string{"/card.png", "/qr.png"} {
		r := ta.do(org, "GET", "/c/"+draft+p, nil)
		if cc := r.header.Get("Cache-Control"); r.status != http.StatusOK || strings.Contains(cc, "public") {
			t.Errorf("the draft's %s for its organiser: status %d, Cache-Control %q; want 200, kept by no shared cache", p, r.status, cc)
		}
		if r := ta.do(ta.client(), "GET", "/c/"+draft+p, nil); r.status != http.StatusNotFound {
			t.Errorf("the draft's %s for a visitor: status %d, want 404", p, r.status)
		}
		if r := ta.do(ta.client(), "GET", "/c/"+published+p, nil); !strings.HasPrefix(r.header.Get("Cache-Control"), "public") {
			t.Errorf("a published cause's %s: Cache-Control %q, want public", p, r.header.Get("Cache-Control"))
		}
	}
}
