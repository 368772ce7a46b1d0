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
// of once a request. An edit forgets the cause's pages at once, and so does
// a confirmation, so counts do not lag behind one — except on a cause
// confirming more than hotCounts a second, whose pages are kept until they
// are countLag old: forgetting them at every confirmation would render them
// at every request, which took the cause page from about 33,000 reads a
// second to 4,000 while 3,400 people a second confirmed.
type pageCache struct {
	mu  sync.RWMutex
	ttl time.Duration
	// bySlug holds each cause's pages by language and country, so that
	// forgetting a cause (once per confirmation) drops one entry instead of
	// walking every cached page.
	bySlug map[string]map[pageKey]cachedPage
	size   int
	// gen holds, per cause, the number of its latest forget: a page
	// rendered from data read before a forget is not kept after it. The
	// numbers come from one sequence, seq, so clearing gen to bound it
	// never lets a number taken before a forget match again.
	gen map[string]uint64
	seq uint64
	// moves counts each cause's confirmations in the current second.
	moves map[string]countMoves
	now   func() time.Time
}

const (
	hotCounts = 20
	countLag  = 100 * time.Millisecond
)

type pageKey struct{ lang, country string }

type cachedPage struct {
	body              body
	rendered, expires time.Time
}

type countMoves struct {
	second int64
	n      int
}

func newPageCache() *pageCache {
	return &pageCache{ttl: time.Second, bySlug: map[string]map[pageKey]cachedPage{}, gen: map[string]uint64{},
		moves: map[string]countMoves{}, now: time.Now}
}

// generation returns the number of the cause's latest forget, to pass to
// put once the page is rendered.
func (p *pageCache) generation(slug string) uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.gen[slug]
}

func (p *pageCache) get(slug, lang, country string) (body, bool) {
	p.mu.RLock()
	e, ok := p.bySlug[slug][pageKey{lang, country}]
	p.mu.RUnlock()
	if !ok || p.now().After(e.expires) {
		return body{}, false
	}
	return e.body, true
}

// put keeps a page rendered from data read after generation returned gen;
// if the cause was forgotten since, the page is not kept.
func (p *pageCache) put(slug, lang, country string, gen uint64, b body) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen[slug] != gen {
		return
	}
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
	now := p.now()
	ttl := p.ttl
	if p.hot(slug, now) {
		// It may have read its count before the latest confirmation, which
		// left the generation alone.
		ttl = countLag
	}
	pages[pageKey{lang, country}] = cachedPage{body: b, rendered: now, expires: now.Add(ttl)}
}

// hot reports whether the cause has had more than hotCounts confirmations
// in the second of now.
func (p *pageCache) hot(slug string, now time.Time) bool {
	m := p.moves[slug]
	return m.second == now.Unix() && m.n > hotCounts
}

func (p *pageCache) forget(slug string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forgetLocked(slug)
}

func (p *pageCache) forgetLocked(slug string) {
	p.size -= len(p.bySlug[slug])
	delete(p.bySlug, slug)
	if len(p.gen) > 10000 {
		clear(p.gen)
	}
	p.seq++
	p.gen[slug] = p.seq
}

// counted is forget for a confirmation of the cause.
func (p *pageCache) counted(slug string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.moves[slug]
	if s := p.now().Unix(); m.second != s {
		m = countMoves{second: s}
	}
	m.n++
	if len(p.moves) > 10000 {
		clear(p.moves)
	}
	p.moves[slug] = m
	if !p.hot(slug, p.now()) {
		p.forgetLocked(slug)
		return
	}
	for k, e := range p.bySlug[slug] {
		if lag := e.rendered.Add(countLag); lag.Before(e.expires) {
			e.expires = lag
			p.bySlug[slug][k] = e
		}
	}
}

// fromCache answers with the cached public page key (a cause's slug, or
// homeKey) for the language and country, if there is one.
func (h *Handler) fromCache(c *gin.Context, key, lang, country string) bool {
	body, ok := h.pages.get(key, lang, country)
	if ok {
		publicCache(c)
		writeBody(c, "text/html; charset=utf-8", body)
	}
	return ok
}

// writePage answers with a public page just rendered, keeping it in the
// cache when keep is set; gen is the generation taken before its data was
// read (see pageCache.put).
func (h *Handler) writePage(c *gin.Context, key, lang, country string, gen uint64, keep bool, raw []byte) {
	b := newBody(raw)
	if keep {
		h.pages.put(key, lang, country, gen, b)
	}
	publicCache(c)
	writeBody(c, "text/html; charset=utf-8", b)
}

// forget drops every cached rendering of a cause after it changed, and the
// home page, which lists it.
func (h *Handler) forget(slug string) {
	h.pages.forget(slug)
	h.pages.forget(homeKey)
	h.causes.forget(slug)
}
