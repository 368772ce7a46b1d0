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

// stamps keeps the "check your email" page rendered once per cause,
// language and version, with a placeholder for the signer's address. At
// thousands of signings a second, running html/template for every one would
// cost more than the database write; a string replacement costs little.
type stamps struct {
	mu sync.RWMutex
	m  map[stampKey]any
}

// stampKey names one rendering: a cause's version, language and path.
type stampKey struct {
	page          string
	cause, update int64
	lang, path    string
}

func newStamps() *stamps { return &stamps{m: map[stampKey]any{}} }

func (s *stamps) get(key stampKey, render func() (any, error)) (any, error) {
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := render()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.m) > 4096 {
		clear(s.m)
	}
	s.m[key] = v
	s.mu.Unlock()
	return v, nil
}

// signedPage returns the "check your email" page for the cause, language
// and path, rendered once, with a placeholder for the signer's address.
func (h *Handler) signedPage(page *templates.Page, cz Cause) (stamped, error) {
	key := stampKey{page: "signed", cause: cz.ID, update: cz.UpdatedAt.UnixNano(), lang: page.Lang, path: page.Path}
	v, err := h.stamps.get(key, func() (any, error) {
		page.Data = signedData{Cause: cz, Email: phEmail}
		var b strings.Builder
		if err := h.rdr.Render(&b, "campaigns/signed.html", page); err != nil {
			return nil, err
		}
		return stamp(b.String(), phEmail), nil
	})
	if err != nil {
		return stamped{}, err
	}
	return v.(stamped), nil
}

// htmlType is the Content-Type of pages, shared: headers are replaced,
// never written into.
var htmlType = []string{"text/html; charset=utf-8"}

// thanksKey names one variant of a cause's thank-you page.
type thanksKey struct {
	cause, update int64
	lang          string
	again, named  bool
}

// thanksPage is a thank-you page rendered for the count it shows.
type thanksPage struct {
	count, goal int64
	page        stamped
}

// thanksPages keeps each cause's thank-you page, per language and variant,
// rendered for the latest count with placeholders for the person's first
// name, their token (in the language links) and their donate form. The
// confirmations of one batch see the same count, so under load the page is
// rendered about once a batch rather than once a confirmation: running
// html/template for the whole page was half of a confirmation's cost.
type thanksPages struct {
	mu sync.Mutex
	m  map[thanksKey]thanksPage
}

func (t *thanksPages) get(key thanksKey, count, goal int64, render func() (stamped, error)) (stamped, error) {
	t.mu.Lock()
	e, ok := t.m[key]
	t.mu.Unlock()
	if ok && e.count == count && e.goal == goal {
		return e.page, nil
	}
	page, err := render()
	if err != nil {
		return stamped{}, err
	}
	t.mu.Lock()
	if len(t.m) > 1024 {
		clear(t.m)
	}
	t.m[key] = thanksPage{count: count, goal: goal, page: page}
	t.mu.Unlock()
	return page, nil
}

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
