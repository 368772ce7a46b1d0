package campaigns

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// A placeholder stands in for what differs from one person to the next in
// a page rendered once. It has two spellings of the same length, each
// letters and digits only, which every html/template context (text,
// attributes, URLs, scripts) leaves as they are and which differ from
// their first letter. A page is rendered twice, once with each spelling,
// and its holes are where the two renderings differ (see cut): never where
// text someone typed (a cause's title, a signer's comment) happens to read
// like a placeholder, since that text is the same in both renderings.
type placeholder [2]string

func newPlaceholder(name string) placeholder {
	return placeholder{"x7rally" + name + "x7", "y7rally" + name + "y7"}
}

// The placeholders, and the context each one's value is written for.
var (
	phEmail    = newPlaceholder("EMAIL")    // the signer's address, escaped as HTML text
	phName     = newPlaceholder("NAME")     // their first name, escaped as HTML text
	phToken    = newPlaceholder("TOKEN")    // their confirmation link's token: letters, digits, - and _
	phDonate   = newPlaceholder("DONATE")   // their donate form, rendered
	phRef      = newPlaceholder("REF")      // the referral code of a cause page's address: letters, digits, - and _
	phSource   = newPlaceholder("SOURCE")   // the channel of a cause page's address: letters, digits, -, _ and .
	phCode     = newPlaceholder("CODE")     // the signer's own share code: letters and digits
	phRecruits = newPlaceholder("RECRUITS") // how many people signed through them, a sentence escaped as HTML text

	placeholders = []placeholder{phEmail, phName, phToken, phDonate, phRef, phSource, phCode, phRecruits}
)

// stamped is a page rendered once with placeholders, cut around them.
type stamped struct {
	parts [][]byte
	holes []int // after parts[i] comes the value of placeholder holes[i]
}

// cut returns page a cut around its holes: where it differs from page b,
// the same page rendered with the other spelling of each placeholder in
// phs (a with spelling 0, b with spelling 1). A difference that is not a
// whole placeholder, in the same spelling as in the data, is an error: a
// template changed a placeholder, so its value would not go in as meant.
func cut(a, b string, phs ...placeholder) (stamped, error) {
	if len(a) != len(b) {
		return stamped{}, fmt.Errorf("stamp: the two renderings differ in length (%d, %d)", len(a), len(b))
	}
	var s stamped
	start := 0
	for i := 0; i < len(a); {
		// Skip equal runs a word at a time: pages are tens of kilobytes.
		if j := i + 16; j <= len(a) && a[i:j] == b[i:j] {
			i = j
			continue
		}
		if a[i] == b[i] {
			i++
			continue
		}
		k := -1
		for n, ph := range phs {
			if len(a)-i >= len(ph[0]) && a[i:i+len(ph[0])] == ph[0] && b[i:i+len(ph[1])] == ph[1] {
				k = n
				break
			}
		}
		if k < 0 {
			return stamped{}, fmt.Errorf("stamp: the renderings differ at byte %d, where no placeholder is", i)
		}
		s.parts = append(s.parts, []byte(a[start:i]))
		s.holes = append(s.holes, k)
		i += len(phs[k][0])
		start = i
	}
	s.parts = append(s.parts, []byte(a[start:]))
	return s, nil
}

// size is how many bytes the page's parts hold.
func (s stamped) size() int {
	n := 0
	for _, p := range s.parts {
		n += len(p)
	}
	return n
}

// fill returns the page with values[i] in place of placeholder i.
func (s stamped) fill(values ...string) []byte {
	n := s.size()
	for _, h := range s.holes {
		n += len(values[h])
	}
	out := make([]byte, 0, n)
	for i, p := range s.parts {
		if i > 0 {
			out = append(out, values[s.holes[i-1]]...)
		}
		out = append(out, p...)
	}
	return out
}

// write answers 200 with the page, values[i] in place of placeholder i,
// each already escaped for where it goes. It sets a Content-Length and
// makes no copy of the page.
func (s stamped) write(c *gin.Context, values ...string) {
	n := s.size()
	for _, h := range s.holes {
		n += len(values[h])
	}
	h := c.Writer.Header()
	h["Content-Type"] = htmlType
	h["Content-Length"] = []string{strconv.Itoa(n)}
	c.Status(http.StatusOK)
	for i, p := range s.parts {
		if i > 0 {
			_, _ = c.Writer.WriteString(values[s.holes[i-1]])
		}
		_, _ = c.Writer.Write(p)
	}
}

// stamps keeps pages rendered once with placeholders for what is the
// person's own (see placeholder): the "check your email" page, the confirm
// button page and the thank-you page, each per cause version, language and
// variant. At thousands of signings a second, running html/template for
// every one would cost more than the database write; putting the
// person's values in costs little. A page that shows a count is kept for
// its latest count only, so the cache stays one entry per variant. Nothing
// from the request's address goes into a key: the pages are rendered for
// their plain address, so a flood of made-up queries finds the same few.
type stamps struct {
	mu sync.RWMutex
	m  map[stampKey]stampedPage
	// bytes is what the kept pages hold; past maxBytes (or maxPages pages)
	// the cache starts again empty.
	bytes              int
	maxBytes, maxPages int
}

// stampKey names one variant of a page: a cause's version and language,
// and for the thank-you page whether the person was already counted and
// whether they gave a name.
type stampKey struct {
	page          string
	cause, update int64
	lang          string
	again, named  bool
}

// stampedPage is a page as rendered for version: the count and goal it
// shows, or zero for pages that show none.
type stampedPage struct {
	version [2]int64
	page    stamped
}

func newStamps() *stamps {
	return &stamps{m: map[stampKey]stampedPage{}, maxBytes: 32 << 20, maxPages: 4096}
}

// get returns the page for key and version, rendering it if the one kept
// is missing or of another version.
func (s *stamps) get(key stampKey, version [2]int64, render func() (stamped, error)) (stamped, error) {
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	if ok && e.version == version {
		return e.page, nil
	}
	page, err := render()
	if err != nil {
		return stamped{}, err
	}
	s.mu.Lock()
	if old, ok := s.m[key]; ok {
		s.bytes -= old.page.size()
	}
	if s.bytes+page.size() > s.maxBytes || len(s.m) >= s.maxPages {
		clear(s.m)
		s.bytes = 0
	}
	s.m[key] = stampedPage{version: version, page: page}
	s.bytes += page.size()
	s.mu.Unlock()
	return page, nil
}

// size is how many bytes the kept pages hold.
func (s *stamps) size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

// signedPage returns the "check your email" page for the cause and
// language, rendered once, with a placeholder for the signer's address.
func (h *Handler) signedPage(page *templates.Page, cz Cause) (stamped, error) {
	key := stampKey{page: "signed", cause: cz.ID, update: cz.UpdatedAt.UnixNano(), lang: page.Lang}
	return h.stamps.get(key, [2]int64{}, func() (stamped, error) {
		// The page of the plain signing address, whatever the request's
		// query: its language links lead back to the cause page anyway.
		page.Path = "/c/" + cz.Slug + "/sign"
		return h.renderStamped("campaigns/signed.html", page, func(i int) {
			page.Data = signedData{Cause: cz, Email: phEmail[i]}
		}, phEmail)
	})
}

// renderStamped renders the page template name twice, set(0) then set(1)
// putting the placeholders' first then second spelling in page, and cuts
// it around them.
func (h *Handler) renderStamped(name string, page *templates.Page, set func(spelling int), phs ...placeholder) (stamped, error) {
	var r [2]string
	for i := range r {
		set(i)
		raw, err := h.renderPage(name, page)
		if err != nil {
			return stamped{}, err
		}
		r[i] = string(raw)
	}
	return cut(r[0], r[1], phs...)
}

// htmlType is the Content-Type of pages, shared: headers are replaced,
// never written into.
var htmlType = []string{"text/html; charset=utf-8"}

// causeCache keeps causes by slug for the signing path for a second. A
// change to a cause (see Store.OnChange) forgets it at once.
type causeCache struct {
	mu sync.RWMutex
	m  map[string]cachedCause
}

type cachedCause struct {
	cause   Cause
	expires time.Time
}

func newCauseCache() *causeCache { return &causeCache{m: map[string]cachedCause{}} }

func (cc *causeCache) get(ctx context.Context, s *Store, slug string) (Cause, error) {
	cc.mu.RLock()
	e, ok := cc.m[slug]
	cc.mu.RUnlock()
	if ok && time.Now().Before(e.expires) {
		return e.cause, nil
	}
	cz, err := s.FindCauseBySlug(ctx, slug)
	if err != nil {
		return cz, err
	}
	cc.mu.Lock()
	if len(cc.m) > 10000 {
		clear(cc.m)
	}
	cc.m[slug] = cachedCause{cause: cz, expires: time.Now().Add(time.Second)}
	cc.mu.Unlock()
	return cz, nil
}

func (cc *causeCache) forget(slug string) {
	cc.mu.Lock()
	delete(cc.m, slug)
	cc.mu.Unlock()
}

// forgetCause forgets the cause with the given id, or every cause for 0.
func (cc *causeCache) forgetCause(id int64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for slug, e := range cc.m {
		if id == 0 || e.cause.ID == id {
			delete(cc.m, slug)
		}
	}
}
