package campaigns

import (
	"context"
	"html"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// phEmail stands in for the signer's address in the cached "check your
// email" page. It is plain letters, so html/template's escaping leaves it be.
const phEmail = "x7rallyEMAILx7"

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
// and path as the parts around the signer's address, rendered once.
func (h *Handler) signedPage(page *templates.Page, cz Cause) ([][]byte, error) {
	key := stampKey{page: "signed", cause: cz.ID, update: cz.UpdatedAt.UnixNano(), lang: page.Lang, path: page.Path}
	v, err := h.stamps.get(key, func() (any, error) {
		page.Data = signedData{Cause: cz, Email: phEmail}
		var b strings.Builder
		if err := h.rdr.Render(&b, "campaigns/signed.html", page); err != nil {
			return nil, err
		}
		var parts [][]byte
		for _, p := range strings.Split(b.String(), phEmail) {
			parts = append(parts, []byte(p))
		}
		return parts, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([][]byte), nil
}

// htmlType is the Content-Type of pages, shared: headers are replaced,
// never written into.
var htmlType = []string{"text/html; charset=utf-8"}

// writeStamped writes parts with text, HTML-escaped, between each two, with
// a Content-Length, so no copy of the page is made and it is not chunked.
func writeStamped(c *gin.Context, parts [][]byte, text string) {
	esc := html.EscapeString(text)
	n := len(esc) * (len(parts) - 1)
	for _, p := range parts {
		n += len(p)
	}
	h := c.Writer.Header()
	h["Content-Type"] = htmlType
	h["Content-Length"] = []string{strconv.Itoa(n)}
	c.Status(http.StatusOK)
	for i, p := range parts {
		if i > 0 {
			_, _ = c.Writer.WriteString(esc)
		}
		_, _ = c.Writer.Write(p)
	}
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
