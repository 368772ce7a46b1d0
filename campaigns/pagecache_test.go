package campaigns

import (
	"strconv"
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
	page := body{raw: []byte("page")}
	cached := func() bool { _, ok := p.get("c", "en", "FR"); return ok }

	p.put("c", "en", "FR", p.generation("c"), page)
	p.counted("c")
	if cached() {
		t.Fatal("a confirmation left the page cached")
	}
	for range hotCounts - 1 {
		p.put("c", "en", "FR", p.generation("c"), page)
		p.counted("c")
		if cached() {
			t.Fatalf("a confirmation on a cause under %d a second left the page cached", hotCounts)
		}
	}
	// The cause is now hot: a page rendered now is kept for countLag.
	p.put("c", "en", "FR", p.generation("c"), page)
	for range 50 {
		p.counted("c")
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
	p.put("c", "en", "FR", p.generation("c"), page)
	now = now.Add(countLag + time.Millisecond)
	if cached() {
		t.Error("a page stored while the cause was hot outlived countLag")
	}
	// An edit drops it at once, hot or not.
	p.put("c", "en", "FR", p.generation("c"), page)
	p.forget("c")
	if cached() {
		t.Error("an edit left the page cached")
	}
	// A new second: confirmations drop pages at once again.
	now = now.Add(time.Second)
	p.put("c", "en", "FR", p.generation("c"), page)
	p.counted("c")
	if cached() {
		t.Error("a confirmation in a quiet second left the page cached")
	}
	// Rendered from data read before a confirmation: not kept.
	gen := p.generation("c")
	p.counted("c")
	p.put("c", "en", "FR", gen, page)
	if cached() {
		t.Error("a page rendered from data older than a confirmation was kept")
	}
}

// The forget numbers stay bounded without letting a page rendered before a
// forget be kept: after the map of them is cleared, a cause forgotten again
// does not get back the number an older rendering took.
func TestPageCacheKeepsNoStalePageAcrossItsForgetsBeingCleared(t *testing.T) {
	p := newPageCache()
	p.forget("c")
	gen := p.generation("c") // a rendering starts
	for i := range 10001 {
		p.forget("other-" + strconv.Itoa(i))
	}
	p.forget("c") // the cause changes while it renders
	p.put("c", "en", "FR", gen, body{raw: []byte("stale")})
	if _, ok := p.get("c", "en", "FR"); ok {
		t.Error("a page rendered before the cause changed was kept")
	}
}
