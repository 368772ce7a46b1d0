package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// In a browser a heart is given in place: the count moves, the button
// stays pressed, and both hold after a reload; the same browser's second
// heart counts for nothing.
func TestBrowserHeartAReason(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Safer crossings")
	visitor := ta.client()
	tok := ta.signingToken(visitor, slug, "Ada Lovelace", "ada@example.org")
	if r := ta.do(visitor, "POST", "/confirm/"+tok, nil); r.status != http.StatusOK {
		t.Fatalf("confirm: status %d", r.status)
	}
	var id int64
	if err := ta.writer.QueryRow(`SELECT id FROM signatures WHERE email = 'ada@example.org'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	button := fmt.Sprintf("#reason-%d button.heart", id)
	hearts := func() int {
		var n int
		if err := ta.writer.QueryRow(`SELECT hearts FROM signatures WHERE id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	ctx := browser(t)
	do(t, ctx, "open the cause", chromedp.Navigate(ta.srv.URL+"/c/"+slug+"?lang=en"))
	if got := eval[string](t, ctx, `document.querySelector("`+button+`").getAttribute("aria-pressed")`); got != "false" {
		t.Fatalf("before a heart the button is pressed: %q", got)
	}
	url := eval[string](t, ctx, `location.href`)
	do(t, ctx, "give a heart", chromedp.Click(chromedp.CSS(button)))
	waitLonger(t, ctx, "the button after a heart",
		`document.querySelector("`+button+`").getAttribute("aria-pressed") === "true"`, 15*time.Second)
	if got := text(t, ctx, button+" [data-heart-count]"); got != "1" {
		t.Errorf("the count after a heart says %q, want 1", got)
	}
	if got := eval[string](t, ctx, `location.href`); got != url {
		t.Errorf("the heart left the page for %s", got)
	}
	if n := hearts(); n != 1 {
		t.Fatalf("%d hearts stored, want 1", n)
	}

	do(t, ctx, "reload", chromedp.Navigate(ta.srv.URL+"/c/"+slug+"?lang=en"))
	if got := eval[string](t, ctx, `document.querySelector("`+button+`").getAttribute("aria-pressed")`); got != "true" {
		t.Errorf("after a reload the button is not pressed: %q", got)
	}
	if got := text(t, ctx, button+" [data-heart-count]"); got != "1" {
		t.Errorf("after a reload the count says %q, want 1", got)
	}
	// The browser forgets what it pressed, but its cookie still counts
	// it once.
	if !eval[bool](t, ctx, `localStorage.clear(); true`) {
		t.Fatal("clear the browser's storage")
	}
	do(t, ctx, "reload", chromedp.Navigate(ta.srv.URL+"/c/"+slug+"?lang=en"))
	do(t, ctx, "give a heart again", chromedp.Click(chromedp.CSS(button)))
	waitLonger(t, ctx, "the button after a second heart",
		`document.querySelector("`+button+`").getAttribute("aria-pressed") === "true"`, 15*time.Second)
	if n := hearts(); n != 1 {
		t.Errorf("the same browser's second heart: %d hearts stored, want 1", n)
	}

	// The reasons pages and the organiser's review pass axe in both
	// languages (their markup is checked by TestPagesAreValidHTML).
	axe := axeSource(t)
	for _, lang := range []string{"en", "fr"} {
		do(t, ctx, "open the reasons", chromedp.Navigate(ta.srv.URL+"/c/"+slug+"/comments?sort=top&lang="+lang))
		checkA11y(t, ctx, axe, "the most liked reasons ("+lang+")")
	}
	do(t, ctx, "log in", chromedp.Navigate(ta.srv.URL+"/login"),
		chromedp.SendKeys(chromedp.ID("email"), "olive@example.org"),
		chromedp.SendKeys(chromedp.ID("password"), "a long enough password"),
		submit(`form[action^="/login"] button[type=submit]`))
	for _, lang := range []string{"en", "fr"} {
		do(t, ctx, "open the review", chromedp.Navigate(ta.srv.URL+"/campaigns/"+slug+"/comments?lang="+lang))
		checkA11y(t, ctx, axe, "the comments review ("+lang+")")
	}
	do(t, ctx, "hide the comment", submit(fmt.Sprintf(`#comment-%d form button`, id)))
	if got := text(t, ctx, fmt.Sprintf("#comment-%d .status-pill", id)); got != "Masqué" {
		t.Errorf("the hidden comment is marked %q, want Masqué", got)
	}
	do(t, ctx, "open the cause", chromedp.Navigate(ta.srv.URL+"/c/"+slug+"?lang=en"))
	if n := eval[int](t, ctx, `document.querySelectorAll("`+button+`").length`); n != 0 {
		t.Errorf("the hidden comment is still on the cause page")
	}
}
