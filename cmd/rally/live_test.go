package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// waitLonger polls a JavaScript condition for up to d, or fails.
func waitLonger(t *testing.T, ctx context.Context, what, cond string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
	}
	t.Fatalf("%s: still not so after %s", what, d)
}

// A cause page left open counts the signatures confirmed meanwhile, in
// its language, without a reload: the count, the progress bar, and once
// for screen readers.
func TestBrowserLiveCount(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Safer crossings")
	ctx := browser(t)
	visitor := ta.client()
	confirm := func(name, email string) {
		t.Helper()
		tok := ta.signingToken(visitor, slug, name, email)
		if r := ta.do(visitor, "POST", "/confirm/"+tok, nil); r.status != http.StatusOK {
			t.Fatalf("confirm: status %d", r.status)
		}
	}

	do(t, ctx, "open the cause", chromedp.Navigate(ta.srv.URL+"/c/"+slug+"?lang=en"))
	if got := text(t, ctx, ".signbox .big"); got != "Be the first to sign" {
		t.Fatalf("before any signature the count says %q", got)
	}
	confirm("Ada Lovelace", "ada@example.org")
	waitLonger(t, ctx, "the count after a confirmation",
		`document.querySelector(".signbox .big").textContent === "1 person has signed"`, 15*time.Second)
	if v := eval[float64](t, ctx, `document.querySelector(".signbox progress").value`); v != 1 {
		t.Errorf("the progress bar is at %v, want 1", v)
	}
	if got := eval[string](t, ctx, `document.querySelector(".signbox progress").getAttribute("aria-label")`); got != "1 signature of 100" {
		t.Errorf("the progress bar's label is %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector("[aria-live=polite]").textContent`); got != "1 person has signed" {
		t.Errorf("screen readers were told %q", got)
	}

	// In French, with the plural and the page's number grouping.
	do(t, ctx, "open the cause in French", chromedp.Navigate(ta.srv.URL+"/c/"+slug+"?lang=fr"))
	confirm("Grace Hopper", "grace@example.org")
	waitLonger(t, ctx, "the French count after a confirmation",
		`document.querySelector(".signbox .big").textContent === "2 personnes ont signé"`, 15*time.Second)
	if got := eval[string](t, ctx, `document.querySelector(".signbox progress").textContent`); got != "2 signatures sur 100" {
		t.Errorf("the French progress bar says %q", got)
	}

	// Without JavaScript, the page shows the count it was rendered with.
	if r := ta.do(ta.client(), "GET", "/c/"+slug+"?lang=en", nil); !strings.Contains(r.body, "2 have signed") {
		t.Errorf("the page as served does not show the count")
	}
}
