package campaigns

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A confirmation drops a cause's cached pages at once, so the count shows
// it; on a cause confirming more than hotCounts a second, a page is kept
// until it is countLag old instead, and an edit still drops it at once. A
// page rendered from data read before a drop is not kept.
func TestPageCacheCountLag(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	p := newPageCache()
	p.now = func() time.Time { return now }
	v := variant{lang: "en", country: "FR"}
	put := func(seen uint64) { p.put("c", 1, v, seen, &cachedPage{body: body{raw: []byte("page")}}) }
	cached := func() bool { _, ok := p.get("c", v); return ok }

	put(p.mark())
	p.counted(1, 1)
	if cached() {
		t.Fatal("a confirmation left the page cached")
	}
	for range hotCounts - 1 {
		put(p.mark())
		p.counted(1, 1)
		if cached() {
			t.Fatalf("a confirmation on a cause under %d a second left the page cached", hotCounts)
		}
	}
	// The cause is now hot: a page rendered now is kept for countLag.
	put(p.mark())
	for range 50 {
		p.counted(1, 1)
	}
	if !cached() {
		t.Fatal("on a hot cause, a page rendered a moment ago was dropped")
	}
	now = now.Add(countLag - time.Millisecond)
	if !cached() {
		t.Error("the page was dropped before it was countLag old")
	}
	now = now.Add(2 * time.Millisecond)
	if cached() {
		t.Error("the page outlived countLag on a hot cause")
	}
	// A page kept while the cause is hot lasts countLag at most, even
	// with no confirmation after it: it may have read an older count.
	put(p.mark())
	now = now.Add(countLag + time.Millisecond)
	if cached() {
		t.Error("a page stored while the cause was hot outlived countLag")
	}
	// An edit drops it at once, hot or not.
	put(p.mark())
	p.change(1)
	if cached() {
		t.Error("an edit left the page cached")
	}
	// A new second: confirmations drop pages at once again.
	now = now.Add(time.Second)
	put(p.mark())
	p.counted(1, 1)
	if cached() {
		t.Error("a confirmation in a quiet second left the page cached")
	}
	// Rendered from data read before a confirmation: not kept.
	seen := p.mark()
	p.counted(1, 1)
	put(seen)
	if cached() {
		t.Error("a page rendered from data older than a confirmation was kept")
	}
}

// The change numbers stay bounded without letting a page rendered before a
// change be kept: after the map of them is cleared, a cause changed again
// does not get back the number an older rendering took.
func TestPageCacheKeepsNoStalePageAcrossItsChangesBeingCleared(t *testing.T) {
	p := newPageCache()
	p.change(1)
	seen := p.mark() // a rendering starts
	for i := range 10001 {
		p.change(int64(i + 2))
	}
	p.change(1) // the cause changes while it renders
	p.put("c", 1, variant{lang: "en", country: "FR"}, seen, &cachedPage{body: body{raw: []byte("stale")}})
	if _, ok := p.get("c", variant{lang: "en", country: "FR"}); ok {
		t.Error("a page rendered before the cause changed was kept")
	}
}

// Whatever the query of a cause page's address — made-up parameters,
// campaign tags, a referral code, one that cannot be — everyone not
// signed in gets the cached page, rendered once: a flood of distinct
// queries renders no Markdown. The referral code of a shared link goes
// into the sign form and the language links; one that cannot be a code
// is dropped.
func TestCausePageFromCacheWhateverTheQuery(t *testing.T) {
	env := newPagesEnv(t)
	c := env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor",
		BodyMD: strings.Repeat("Why it *matters*, [more](https://example.org). ", 1000)})
	base := "/c/" + c.Slug
	plain := env.get(base)
	renders := env.h.pages.renders.Load()
	for i := range 20 {
		env.get(fmt.Sprintf("%s?x=%d", base, i))
		env.get(fmt.Sprintf("%s?lang=en&x=%d&lang=en", base, i))
		env.get(fmt.Sprintf("%s?utm_source=news&utm_medium=mail&utm_campaign=c%d", base, i))
		env.get(fmt.Sprintf("%s?ref=code%d&utm_source=x", base, i))
		env.get(fmt.Sprintf("%s?ref=%%3Cscript%%3E%d", base, i))
	}
	if n := env.h.pages.renders.Load() - renders; n != 0 {
		t.Errorf("100 reads with distinct queries rendered the page %d times, want none after the first", n)
	}
	withRef := env.get(base + "?ref=abc_D-9&x=1")
	if !strings.Contains(withRef, `<input type="hidden" name="ref" value="abc_D-9">`) {
		t.Error("the page of a shared link does not carry its referral code in the form")
	}
	if !strings.Contains(withRef, `href="`+base+`?ref=abc_D-9&amp;lang=fr"`) {
		t.Error("the language link of a shared link's page drops the referral code")
	}
	for _, bad := range []string{"%3Cscript%3Ealert(1)%3C/script%3E", "a%22b", "a+b", strings.Repeat("a", MaxRef+1), ""} {
		page := env.get(base + "?ref=" + bad)
		if page != plain {
			t.Errorf("?ref=%s: the page is not the plain one:\n%s", bad, firstDiff(plain, page))
		}
	}
	if !strings.Contains(plain, `<input type="hidden" name="ref" value="">`) || strings.Contains(plain, "?ref=") {
		t.Error("the plain page has a referral code")
	}
	// Gzip for the plain page, and the right length for both.
	for _, path := range []string{base + "?x=1", base + "?ref=abc"} {
		r := env.do(http.MethodGet, path, nil, "Accept-Encoding", "gzip")
		if r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
			t.Errorf("%s: Content-Length %s for %d bytes", path, r.header.Get("Content-Length"), len(r.body))
		}
		if gz := r.header.Get("Content-Encoding") == "gzip"; gz != !strings.Contains(path, "ref=") {
			t.Errorf("%s: gzip-encoded %v", path, gz)
		}
	}
	if n := env.h.pages.renders.Load() - renders; n != 0 {
		t.Errorf("the page was rendered %d more times", n)
	}
}

// Many requests at once for a page that is not cached wait for one
// rendering rather than each render it.
func TestConcurrentReadsRenderOnce(t *testing.T) {
	env := newPagesEnv(t)
	c := env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor", BodyMD: strings.Repeat("Words. ", 5000)})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 16 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			env.get(fmt.Sprintf("/c/%s?x=%d", c.Slug, i))
		}()
		go func() {
			defer wg.Done()
			<-start
			env.get(fmt.Sprintf("/?x=%d", i))
		}()
	}
	close(start)
	wg.Wait()
	if n := env.h.pages.renders.Load(); n != 2 {
		t.Errorf("32 reads at once of the cause page and the home page rendered %d times, want 2", n)
	}
}

// The home page is the cached one whatever the query, for anyone not
// signed in.
func TestHomePageFromCacheWhateverTheQuery(t *testing.T) {
	env := newPagesEnv(t)
	env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor"})
	plain := env.get("/")
	renders := env.h.pages.renders.Load()
	for i := range 20 {
		if page := env.get(fmt.Sprintf("/?x=%d&utm_source=y", i)); page != plain {
			t.Fatalf("the home page differs with a query:\n%s", firstDiff(plain, page))
		}
	}
	if n := env.h.pages.renders.Load() - renders; n != 0 {
		t.Errorf("20 reads with distinct queries rendered the home page %d times", n)
	}
}

// Every write that changes what a cause shows — a confirmation, a
// donation, an edit, a status change, closing it past its end date —
// shows at once on its page, its JSON and the home page, whichever code
// made the write: each goes through the Store, which says so to the page
// cache. The pages are read (and cached) before each change.
func TestPagesShowEveryChangeAtOnce(t *testing.T) {
	env := newPagesEnv(t)
	ctx := context.Background()
	ends := time.Now().Add(time.Hour).UTC()
	c := env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor", EndsAt: &ends})
	other := env.cause(CauseInput{Title: "Quiet streets", Summary: "s", Target: "Mayor"})
	type view struct{ page, json, home string }
	read := func(c Cause) view {
		return view{env.get("/c/" + c.Slug + "?utm_source=x"), env.get("/c/" + c.Slug + ".json"), env.get("/?x=1")}
	}
	check := func(what string, c Cause, page, json, home string) {
		t.Helper()
		v := read(c)
		if !strings.Contains(v.page, page) {
			t.Errorf("after %s, the cause page lacks %q", what, page)
		}
		if !strings.Contains(v.json, json) {
			t.Errorf("after %s, the JSON lacks %q: %s", what, json, v.json)
		}
		if !strings.Contains(v.home, home) {
			t.Errorf("after %s, the home page lacks %q", what, home)
		}
	}
	read(c)
	read(other)

	// A confirmation, made straight through the Store.
	sg := testSigning(c, "ada@example.org")
	if _, err := env.store.Sign(ctx, sg); err != nil {
		t.Fatal(err)
	}
	read(c)
	if _, err := env.store.Confirm(ctx, sg.Token); err != nil {
		t.Fatal(err)
	}
	check("a confirmation", c, "1 person has signed", `"signature_count":1`, "1 signature")

	// A donation: the donations feature says totals changed.
	read(c)
	env.raised.Store(1234)
	env.store.CausesChanged()
	check("a donation", c, "raised-1234-cents", `"total_minor":1234`, "Clean air")
	check("a donation", other, "raised-1234-cents", `"total_minor":1234`, "Quiet streets")

	// An edit.
	read(c)
	c, _, err := env.store.UpdateCause(ctx, c.ID, CauseInput{Title: "Cleaner air", Summary: "s", Target: "Mayor", Goal: 100,
		EndsAt: &ends, Lang: "en"}, "")
	if err != nil {
		t.Fatal(err)
	}
	check("an edit", c, "<h1>Cleaner air</h1>", `"title":"Cleaner air"`, "Cleaner air")

	// Closing it, then declaring victory.
	read(c)
	if c, err = env.store.SetStatus(ctx, c.ID, Closed); err != nil {
		t.Fatal(err)
	}
	check("closing", c, `class="closed-note"`, `"status":"closed"`, `status-pill">`)
	if c, err = env.store.SetStatus(ctx, c.ID, Published); err != nil {
		t.Fatal(err)
	}
	read(c)
	if c, err = env.store.SetStatus(ctx, c.ID, Victory); err != nil {
		t.Fatal(err)
	}
	check("victory", c, `class="closed-note victory-note"`, `"status":"victory"`, `status-pill victory`)

	// Closed by the housekeeping job once past its end date. The pages
	// read first were rendered while it was open.
	later := time.Now().Add(2 * time.Hour).UTC()
	ends = time.Now().Add(time.Hour).UTC()
	c = env.cause(CauseInput{Title: "Green park", Summary: "s", Target: "Mayor", EndsAt: &ends})
	read(c)
	env.store.SetClock(func() time.Time { return later })
	if n, err := env.store.CloseExpired(ctx); err != nil || n != 1 {
		t.Fatalf("CloseExpired = %d, %v; want 1 closed", n, err)
	}
	check("closing past its end date", c, `class="closed-note"`, `"status":"closed"`, "Green park")
}

// A cause page is kept per language and preselected country; going
// through Accept-Language's countries renders its Markdown body once, not
// once per country, and an edit of the body shows at once.
func TestCauseBodyRenderedOnceForEveryCountry(t *testing.T) {
	env := newPagesEnv(t)
	c := env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor", BodyMD: "Why it *matters*"})
	countries := []string{"GB", "FR", "DE", "BE", "ES", "IT", "NL", "IE", "CA", "US", "PT", "PL", "SE", "NO", "DK"}
	for _, country := range countries {
		r := env.do(http.MethodGet, "/c/"+c.Slug, nil, "Accept-Language", "en-"+country)
		if !strings.Contains(r.body, `<option value="`+country+`" selected>`) || !strings.Contains(r.body, "<em>matters</em>") {
			t.Fatalf("en-%s: the page lacks the country preselected or the body", country)
		}
	}
	if n := env.h.bodies.renders.Load(); n != 1 {
		t.Errorf("the pages of %d countries rendered the Markdown body %d times, want once", len(countries), n)
	}
	if _, _, err := env.store.UpdateCause(context.Background(), c.ID, CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor",
		Goal: 100, BodyMD: "Why it *still* matters", Lang: "en"}, ""); err != nil {
		t.Fatal(err)
	}
	if page := env.get("/c/" + c.Slug); !strings.Contains(page, "<em>still</em>") {
		t.Error("the edited body does not show")
	}
}
