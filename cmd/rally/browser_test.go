package main

import (
	"context"
	"encoding/csv"
	"io"
	"mime/quotedprintable"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser starts Debian's Chromium headless, with any extra options, and
// returns a tab's context.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	return browserWithin(t, 90*time.Second, extra...)
}

// browserWithin is browser for a test that may take up to d.
func browserWithin(t *testing.T, d time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		var err error
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatal("Chromium is needed for the browser tests: apt-get install -y chromium (or set CHROMIUM)")
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(390, 844),
	)
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, d)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// submit clicks a submit button and waits for the page it leads to.
func submit(sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))(ctx, t)
		return chromedp.Void{}, err
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// axeSource is axe-core's script, which .ci/run installs from npm
// (AXE_JS, or node_modules at the repository root).
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("AXE_JS")
	if path == "" {
		path = filepath.Join("..", "..", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("axe-core is needed for the accessibility checks: npm install --no-save axe-core@4.14.1 at the repository root (or set AXE_JS): %v", err)
	}
	return string(b)
}

// checkA11y runs axe-core on the page in the tab against WCAG 2 A and AA
// and fails on any violation.
func checkA11y(t *testing.T, ctx context.Context, axe, page string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axe+";true")); err != nil {
		t.Fatalf("%s: load axe: %v", page, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
		.then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 3)}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe: %v", page, err)
	}
	if out != "[]" {
		t.Errorf("%s: accessibility violations: %s", page, out)
	}
}

func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("RALLY_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
}

// The petition loop as people live it: an organiser signs up, confirms their
// address, creates and publishes a cause; a visitor signs, opens the link
// from the outbox and confirms; the page counts 1; the CSV holds the signer.
func TestBrowserPetitionLoop(t *testing.T) {
	ta := newTestApp(t, nil)
	ctx := browser(t)
	axe := axeSource(t)
	base := ta.srv.URL
	must := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}

	for _, page := range []string{"/", "/signup", "/login", "/privacy", "/c/no-such-cause"} {
		must("open "+page, chromedp.Do(ctx, chromedp.Navigate(base+page)))
		checkA11y(t, ctx, axe, page)
	}
	must("sign up", chromedp.Do(ctx,
		chromedp.Navigate(base+"/signup"),
		chromedp.SendKeys(chromedp.ID("name"), "Olive Organiser"),
		chromedp.SendKeys(chromedp.ID("email"), "olive@example.org"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		submit(`form[action="/signup"] button[type=submit]`),
	))
	// The account opens through the link mailed to the address.
	if body := text(t, ctx, "main"); !strings.Contains(body, "olive@example.org") {
		t.Fatalf("after signing up the page does not say where the mail went:\n%s", body)
	}
	checkA11y(t, ctx, axe, "the check-your-email page")
	link := confirmAccountLink.FindString(ta.lastMailTo("olive@example.org"))
	if link == "" {
		t.Fatal("no account confirmation link was mailed")
	}
	must("open the account", chromedp.Do(ctx,
		chromedp.Navigate(base+link),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		submit(`main form button[type=submit]`),
	))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/dashboard") {
		t.Fatalf("after opening the account the browser is at %s, want the dashboard", loc)
	}
	checkA11y(t, ctx, axe, "the dashboard")

	must("create a cause", chromedp.Do(ctx,
		chromedp.Navigate(base+"/campaigns/new"),
		chromedp.SendKeys(chromedp.ID("title"), "Clean air for Rue des Tilleuls"),
		chromedp.SendKeys(chromedp.ID("summary"), "Close the street to cars at school times."),
		chromedp.SendKeys(chromedp.ID("target"), "The Mayor"),
		chromedp.SetValue(chromedp.ID("goal"), "100"),
		chromedp.SendKeys(chromedp.ID("body"), "## Why\n\nTwo thousand children walk here."),
		submit(`main form button[type=submit]`),
	))
	shot(t, ctx, "overview-draft")
	checkA11y(t, ctx, axe, "the cause overview")
	must("publish", chromedp.Do(ctx, submit(`form[action$="/status"] button.primary`)))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	slug := loc[strings.LastIndex(loc, "/")+1:]
	if slug != "clean-air-for-rue-des-tilleuls" {
		t.Fatalf("slug = %q", slug)
	}
	must("log out", chromedp.Do(ctx, submit(`form[action="/logout"] button`)))

	// A signing with a bad address comes back with the error by the field.
	must("sign with a bad address", chromedp.Do(ctx,
		chromedp.Navigate(base+"/c/"+slug),
		chromedp.SendKeys(chromedp.ID("name"), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.ID("email"), "ada@"),
		chromedp.SetAttributeValue(chromedp.CSS(`form[action$="/sign"]`), "novalidate", ""),
		submit(`form[action$="/sign"] button[type=submit]`),
	))
	checkA11y(t, ctx, axe, "the cause page with an error")
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("name"))); v != "Ada Lovelace" {
		t.Errorf("after an error the name field holds %q", v)
	}
	must("sign as a visitor", chromedp.Do(ctx,
		chromedp.Navigate(base+"/c/"+slug),
		chromedp.SendKeys(chromedp.ID("name"), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.org"),
		chromedp.SetValue(chromedp.ID("country"), "FR"),
		chromedp.Click(chromedp.CSS("details.more summary")),
		chromedp.SendKeys(chromedp.ID("comment"), "My children walk this street."),
		submit(`form[action$="/sign"] button[type=submit]`),
	))
	shot(t, ctx, "signed")
	checkA11y(t, ctx, axe, "the check-your-email page")
	if body := text(t, ctx, "main"); !strings.Contains(body, "ada@example.org") {
		t.Fatalf("the check-your-email page does not name the address:\n%s", body)
	}

	// Deliver the outbox as the worker would and take the link from the .eml.
	if _, err := ta.worker.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	eml := newestEML(t, ta.mailDir)
	m := confirmLink.FindString(eml)
	if m == "" {
		t.Fatalf("no confirmation link in the delivered mail:\n%s", eml)
	}
	must("open the link", chromedp.Do(ctx, chromedp.Navigate(base+m)))
	if n := ta.count(`SELECT count(*) FROM signatures WHERE confirmed_at IS NOT NULL`); n != 0 {
		t.Fatal("opening the link confirmed the signature before the button was pressed")
	}
	must("confirm", chromedp.Do(ctx, submit(`main form button[type=submit]`)))
	shot(t, ctx, "thanks")
	checkA11y(t, ctx, axe, "the thank-you page")
	if body := text(t, ctx, "main"); !strings.Contains(body, "1") {
		t.Fatalf("the thank-you page does not count the signature:\n%s", body)
	}
	must("reload the cause", chromedp.Do(ctx, chromedp.Navigate(base+"/c/"+slug)))
	shot(t, ctx, "cause")
	checkA11y(t, ctx, axe, "the cause page")
	count, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("progress").getAttribute("value")`))
	if err != nil || count != "1" {
		t.Fatalf("the cause page's progress value = %q, %v; want 1", count, err)
	}

	must("log in again", chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(chromedp.ID("email"), "olive@example.org"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		submit(`form[action^="/login"] button[type=submit]`),
	))
	must("open the account page", chromedp.Do(ctx, chromedp.Navigate(base+"/account")))
	checkA11y(t, ctx, axe, "the account page")
	csvText, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`fetch("/campaigns/`+slug+`/signatures.csv").then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(csvText, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%s", err, csvText)
	}
	if len(records) != 2 || records[1][0] != "Ada Lovelace" || records[1][1] != "ada@example.org" || records[1][2] != "FR" {
		t.Fatalf("CSV = %q; want a header and Ada's row", records)
	}
}

// newestEML returns the newest message the dev outbox wrote.
func newestEML(t *testing.T, dir string) string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(names) == 0 {
		t.Fatal("the dev outbox holds no message")
	}
	var newest string
	var newestTime time.Time
	for _, n := range names {
		if st, err := os.Stat(n); err == nil && !st.ModTime().Before(newestTime) {
			newest, newestTime = n, st.ModTime()
		}
	}
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	return decodeQP(string(b))
}

var confirmAccountLink = regexp.MustCompile(`/account/confirm/[A-Za-z0-9_-]{43}`)

// decodeQP undoes quoted-printable soft line breaks and escapes, so links
// in a raw .eml can be found with a regular expression.
func decodeQP(s string) string {
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	if err != nil && len(b) == 0 {
		return s
	}
	return string(b)
}
