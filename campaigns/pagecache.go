package campaigns

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// body is a response body kept with its gzip encoding, made once, so a
// cached page costs no compression per request.
type body struct {
	raw []byte
	gz  []byte
}

func newBody(raw []byte) body {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(raw)
	if zw.Close() != nil || buf.Len() >= len(raw) {
		return body{raw: raw}
	}
	return body{raw: raw, gz: buf.Bytes()}
}

// acceptsGzip reports whether the client takes gzip-encoded responses.
func acceptsGzip(c *gin.Context) bool {
	ae := c.GetHeader("Accept-Encoding")
	return strings.Contains(ae, "gzip") && !strings.Contains(ae, "gzip;q=0")
}

// writeBody answers 200 with b, gzip-encoded when the client takes it, with
// a Content-Length so net/http sends it in one piece instead of chunking it.
func writeBody(c *gin.Context, contentType string, b body) {
	h := c.Writer.Header()
	h.Set("Content-Type", contentType)
	h.Add("Vary", "Accept-Encoding")
	out := b.raw
	if b.gz != nil && acceptsGzip(c) {
		out = b.gz
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(out)))
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(out)
}

// pageCache keeps rendered public cause pages for a second, per language and
// preselected country, so a viral cause renders about once a second instead
// of once a request. A confirmation or an edit forgets the cause's pages at
// once, so counts never lag behind a confirmation.
type pageCache struct {
	mu  sync.RWMutex
	ttl time.Duration
	// bySlug holds each cause's pages by language and country, so that
	// forgetting a cause (once per confirmation) drops one entry instead of
	// walking every cached page.
	bySlug map[string]map[pageKey]cachedPage
	size   int
}

type pageKey struct{ lang, country string }

type cachedPage struct {
	body    body
	expires time.Time
}

func newPageCache() *pageCache {
	return &pageCache{ttl: time.Second, bySlug: map[string]map[pageKey]cachedPage{}}
}

func (p *pageCache) get(slug, lang, country string) (body, bool) {
	p.mu.RLock()
	e, ok := p.bySlug[slug][pageKey{lang, country}]
	p.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		return body{}, false
	}
	return e.body, true
}

func (p *pageCache) put(slug, lang, country string, b body) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.size > 10000 {
		clear(p.bySlug)
		p.size = 0
	}
	pages, ok := p.bySlug[slug]
	if !ok {
		pages = map[pageKey]cachedPage{}
		p.bySlug[slug] = pages
	}
	if _, had := pages[pageKey{lang, country}]; !had {
		p.size++
	}
	pages[pageKey{lang, country}] = cachedPage{body: b, expires: time.Now().Add(p.ttl)}
}

func (p *pageCache) forget(slug string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.size -= len(p.bySlug[slug])
	delete(p.bySlug, slug)
}

// forget drops every cached rendering of a cause after it changed.
func (h *Handler) forget(slug string) {
	h.pages.forget(slug)
	h.causes.forget(slug)
}
