package campaigns

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// Placeholders stand in for what differs from one person to the next in a
// page rendered once: plain letters, which html/template's escaping leaves
// be in text, attributes and URLs alike.
const (
	phEmail  = "x7rallyEMAILx7"  // the signer's address
	phName   = "x7rallyNAMEx7"   // their first name
	phToken  = "x7rallyTOKENx7"  // their confirmation link's token
	phDonate = "x7rallyDONATEx7" // their donate form
)

// stamped is a page rendered once with placeholders, cut around them.
type stamped struct {
	parts [][]byte
	holes []int // after parts[i] comes the value of placeholder holes[i]
}

// stamp cuts page around every occurrence of the placeholders.
func stamp(page string, placeholders ...string) stamped {
	var s stamped
	for {
		at, which := -1, -1
		for i, ph := range placeholders {
			if j := strings.Index(page, ph); j >= 0 && (at < 0 || j < at) {
				at, which = j, i
			}
		}
		if at < 0 {
			s.parts = append(s.parts, []byte(page))
			return s
		}
		s.parts = append(s.parts, []byte(page[:at]))
		s.holes = append(s.holes, which)
		page = page[at+len(placeholders[which]):]
	}
}

// write answers 200 with the page, values[i] in place of placeholder i,
// each already escaped for where it goes. It sets a Content-Length and
// makes no copy of the page.
func (s stamped) write(c *gin.Context, values ...string) {
	n := 0
	for _, p := range s.parts {
		n += len(p)
	}
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
// person's own (see stamp): the "check your email" page, the confirm button
// page and the thank-you page, each per cause version, language and
// variant. At thousands of signings a second, running html/template for
// every one would cost more than the database write; putting the
// person's values in costs little. A page that shows a count is kept for
// its latest count only, so the cache stays one entry per variant.
type stamps struct {
	mu sync.RWMutex
	m  map[stampKey]stampedPage
}

// stampKey names one variant of a page: a cause's version, language and
// path, and for the thank-you page whether the person was already counted
// and whether they gave a name.
type stampKey struct {
	page          string
	cause, update int64
	lang, path    string
	again, named  bool
}

// stampedPage is a page as rendered for version: the count and goal it
// shows, or zero for pages that show none.
type stampedPage struct {
	version [2]int64
	page    stamped
}

func newStamps() *stamps { return &stamps{m: map[stampKey]stampedPage{}} }

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
	if len(s.m) > 4096 {
		clear(s.m)
	}
	s.m[key] = stampedPage{version: version, page: page}
	s.mu.Unlock()
	return page, nil
}

// signedPage returns the "check your email" page for the cause, language
// and path, rendered once, with a placeholder for the signer's address.
func (h *Handler) signedPage(page *templates.Page, cz Cause) (stamped, error) {
	key := stampKey{page: "signed", cause: cz.ID, update: cz.UpdatedAt.UnixNano(), lang: page.Lang, path: page.Path}
	return h.stamps.get(key, [2]int64{}, func() (stamped, error) {
		page.Data = signedData{Cause: cz, Email: phEmail}
		return h.renderStamped("campaigns/signed.html", page, phEmail)
	})
}

// renderStamped renders the page template name, whose data holds
// placeholders, and cuts it around them.
func (h *Handler) renderStamped(name string, page *templates.Page, placeholders ...string) (stamped, error) {
	raw, err := h.renderPage(name, page)
	if err != nil {
		return stamped{}, err
	}
	return stamp(string(raw), placeholders...), nil
}

// htmlType is the Content-Type of pages, shared: headers are replaced,
// never written into.
var htmlType = []string{"text/html; charset=utf-8"}

// causeCache keeps causes by slug for the signing path for a second. Edits
// and status changes forget the entry at once.
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
