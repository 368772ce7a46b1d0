package campaigns

import (
	"bytes"
	"compress/gzip"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
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

// pageCache keeps the public pages anyone not signed in gets (cause pages,
// their JSON, the home page) for a second, so a viral cause renders about
// once a second instead of once a request, whatever query its visitors'
// addresses carry. A change to a cause (Store.OnChange) forgets its pages
// and the home page at once, and so does a confirmation, so counts do not
// lag behind one — except on a cause confirming more than hotCounts a
// second, whose pages are kept until they are countLag old: forgetting them
// at every confirmation would render them at every request, which took the
// cause page from about 33,000 reads a second to 4,000 while 3,400 people a
// second confirmed.
//
// Pages are served through Handler.servePage, which takes the change
// number before reading what a page shows and keeps the page only if its
// cause has not changed since.
type pageCache struct {
	mu  sync.RWMutex
	ttl time.Duration
	// bySlug holds each cause's pages (homeKey's: the home page) by
	// variant, so that forgetting a cause drops one entry instead of
	// walking every cached page. slugs names, by cause id, the slug its
	// pages are kept under.
	bySlug map[string]map[variant]*cachedPage
	slugs  map[int64]string
	// pages and bytes are what bySlug holds; past maxPages or maxBytes the
	// cache starts again empty.
	pages, bytes       int
	maxPages, maxBytes int
	// Changes are numbered from one sequence, seq. changed holds each
	// cause's latest, home the latest that forgot the home page: a page
	// rendered from data read before its cause's latest change is not kept.
	// floor stands for every change dropped from changed to bound it (and
	// for a change of every cause), so clearing it never lets a number
	// taken before a change pass.
	changed          map[int64]uint64
	seq, floor, home uint64
	// moves counts each cause's confirmations in the current second, and
	// homeMoves all of them.
	moves     map[int64]countMoves
	homeMoves countMoves
	// flights are the renderings under way, so that requests arriving
	// meanwhile wait for one instead of each rendering the page.
	flights map[flightKey]*flight
	// renders counts renderings, for tests.
	renders atomic.Int64
	now     func() time.Time
}

const (
	hotCounts = 20
	countLag  = 100 * time.Millisecond
)

// variant is one of a cause's cached pages: its page in a language with a
// preselected country, or its JSON (lang "json"); for the home page, a
// page of its list or of a search (query, see homeQuery.key).
type variant struct{ lang, country, query string }

// maxHomeVariants bounds the home page's pages of lists and searches kept,
// so that made-up searches cannot push the cause pages out of the cache.
const maxHomeVariants = 256

type flightKey struct {
	slug string
	v    variant
}

// flight is a rendering others wait for: page is set, when done is closed,
// if it was kept, and so may be given to them.
type flight struct {
	done chan struct{}
	page *cachedPage
}

// cachedPage is a page as kept: its body for most requests and, for a
// cause page, the same page cut around the referral code of its address.
type cachedPage struct {
	contentType string
	body        body
	withRef     stamped // no parts: the page takes no referral code
	rendered    time.Time
	expires     time.Time
}

func (e *cachedPage) size() int { return len(e.body.raw) + len(e.body.gz) + e.withRef.size() }

// write answers with the page; a non-empty ref or source goes into its
// holes, from the uncompressed page (a shared link's visitors are few next
// to those of the plain address).
func (e *cachedPage) write(c *gin.Context, ref, source string) {
	if ref == "" && source == "" || len(e.withRef.parts) == 0 {
		writeBody(c, e.contentType, e.body)
		return
	}
	e.withRef.write(c, ref, source)
}

type countMoves struct {
	second int64
	n      int64
}

func newPageCache() *pageCache {
	return &pageCache{ttl: time.Second, bySlug: map[string]map[variant]*cachedPage{}, slugs: map[int64]string{},
		maxPages: 10000, maxBytes: 64 << 20, changed: map[int64]uint64{}, moves: map[int64]countMoves{},
		flights: map[flightKey]*flight{}, now: time.Now}
}

// mark returns the latest change number, to pass to put once the page is
// rendered from data read after it.
func (p *pageCache) mark() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.seq
}

func (p *pageCache) get(slug string, v variant) (*cachedPage, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.bySlug[slug][v]
	if !ok || p.now().After(e.expires) {
		return nil, false
	}
	return e, true
}

// put keeps a page of the cause (0: the home page) kept under slug,
// rendered from data read after mark returned seen. If the cause changed
// since, the page is not kept and put reports false.
func (p *pageCache) put(slug string, cause int64, v variant, seen uint64, e *cachedPage) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := max(p.floor, p.home)
	if cause != 0 {
		last = max(p.floor, p.changed[cause])
	}
	if last > seen {
		return false
	}
	pages, ok := p.bySlug[slug]
	old, had := pages[v]
	if slug == homeKey && !had && len(pages) >= maxHomeVariants {
		return false
	}
	if had {
		p.pages--
		p.bytes -= old.size()
	}
	if p.pages >= p.maxPages || p.bytes+e.size() > p.maxBytes {
		clear(p.bySlug)
		clear(p.slugs)
		p.pages, p.bytes, ok = 0, 0, false
	}
	if !ok {
		pages = map[variant]*cachedPage{}
		p.bySlug[slug] = pages
	}
	if cause != 0 {
		p.slugs[cause] = slug
	}
	now := p.now()
	e.rendered, e.expires = now, now.Add(p.ttl)
	if p.hot(cause, now) {
		// It may have read its count before the latest confirmation, which
		// left the change number alone.
		e.expires = now.Add(countLag)
	}
	pages[v] = e
	p.pages++
	p.bytes += e.size()
	return true
}

// hot reports whether the cause (0: any cause, for the home page) has had
// more than hotCounts confirmations in the second of now.
func (p *pageCache) hot(cause int64, now time.Time) bool {
	m := p.homeMoves
	if cause != 0 {
		m = p.moves[cause]
	}
	return m.second == now.Unix() && m.n > hotCounts
}

// change forgets the cause's pages and the home page, which lists it; a
// cause of 0 forgets every page.
func (p *pageCache) change(cause int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cause == 0 {
		p.seq++
		p.floor, p.home = p.seq, p.seq
		clear(p.bySlug)
		clear(p.slugs)
		p.pages, p.bytes = 0, 0
		return
	}
	p.forgetCause(cause)
	p.forgetHome()
}

func (p *pageCache) forgetCause(cause int64) {
	p.seq++
	if len(p.changed) >= 10000 {
		clear(p.changed)
		p.floor = p.seq
	}
	p.changed[cause] = p.seq
	if slug, ok := p.slugs[cause]; ok {
		p.drop(slug)
		delete(p.slugs, cause)
	}
}

func (p *pageCache) forgetHome() {
	p.seq++
	p.home = p.seq
	p.drop(homeKey)
}

func (p *pageCache) drop(slug string) {
	for _, e := range p.bySlug[slug] {
		p.pages--
		p.bytes -= e.size()
	}
	delete(p.bySlug, slug)
}

// counted is change for n confirmations of the cause: on a hot cause (and
// on the home page, when confirmations are many) the pages are kept until
// countLag old instead of dropped.
func (p *pageCache) counted(cause, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	sec := now.Unix()
	p.moved(cause, n, now)
	if p.homeMoves.second != sec {
		p.homeMoves = countMoves{second: sec}
	}
	p.homeMoves.n += n
	if p.hot(0, now) {
		p.lag(homeKey)
	} else {
		p.forgetHome()
	}
}

// moved counts n moves of the cause's pages in the current second and
// forgets them, or on a cause that moves often, shortens their life.
func (p *pageCache) moved(cause, n int64, now time.Time) {
	sec := now.Unix()
	m := p.moves[cause]
	if m.second != sec {
		m = countMoves{second: sec}
	}
	m.n += n
	if len(p.moves) >= 10000 {
		clear(p.moves)
	}
	p.moves[cause] = m
	if p.hot(cause, now) {
		p.lag(p.slugs[cause])
	} else {
		p.forgetCause(cause)
	}
}

// hearted says a reason on the cause got a heart: its pages show the
// hearts, kept as briefly as a moving count's; the home page does not.
func (p *pageCache) hearted(cause int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.moved(cause, 1, p.now())
}

// lag shortens the life of the pages under slug to countLag after they
// were rendered.
func (p *pageCache) lag(slug string) {
	for _, e := range p.bySlug[slug] {
		if lag := e.rendered.Add(countLag); lag.Before(e.expires) {
			e.expires = lag
		}
	}
}

// rendered is a public page as a render func made it.
type rendered struct {
	raw []byte
	// withRef, for a cause page, is the page cut around the referral code
	// and the channel of its address (phRef, phSource); raw has neither.
	withRef stamped
	// cause is the cause the page shows, 0 for the home page.
	cause int64
	// keep is whether the page may be given to others: false for a cause
	// the public cannot see.
	keep bool
}

// servePage answers with the public page v of the cause slug (homeKey:
// the home page): the cached one if there is one, else the one render
// makes, kept for the next requests. render reads what the page shows
// after the change number is taken; it answers errors itself and then
// returns false. Requests for a page being rendered wait for it rather
// than render it again. ref and source are the request's referral code and
// channel, validated, or empty.
func (h *Handler) servePage(c *gin.Context, slug string, v variant, contentType string, ref, source string,
	render func() (rendered, bool)) {
	p := h.pages
	if e, ok := p.get(slug, v); ok {
		e.write(c, ref, source)
		return
	}
	k := flightKey{slug, v}
	p.mu.Lock()
	// The page may have been kept, and its flight landed, since get missed.
	if e, ok := p.bySlug[slug][v]; ok && !p.now().After(e.expires) {
		p.mu.Unlock()
		e.write(c, ref, source)
		return
	}
	f, waiting := p.flights[k]
	if !waiting {
		f = &flight{done: make(chan struct{})}
		p.flights[k] = f
	}
	p.mu.Unlock()
	land := func() {}
	if waiting {
		<-f.done
		if f.page != nil {
			f.page.write(c, ref, source)
			return
		}
		// Not kept (it failed, or its cause changed meanwhile): this
		// request renders its own.
	} else {
		// Those waiting go on once the page is kept, before it is written
		// out to this request's client, or when the rendering fails, even
		// by a panic.
		land = sync.OnceFunc(func() {
			p.mu.Lock()
			delete(p.flights, k)
			p.mu.Unlock()
			close(f.done)
		})
		defer land()
	}
	seen := p.mark()
	p.renders.Add(1)
	r, ok := render()
	if !ok {
		return
	}
	e := &cachedPage{contentType: contentType, body: newBody(r.raw), withRef: r.withRef}
	if r.keep && p.put(slug, r.cause, v, seen, e) && !waiting {
		f.page = e
	}
	land()
	e.write(c, ref, source)
}

// causeChanged is the Store telling what changed (see Store.OnChange).
func (h *Handler) causeChanged(ch Change) {
	if ch.Confirmed > 0 {
		h.pages.counted(ch.CauseID, ch.Confirmed)
		return
	}
	h.pages.change(ch.CauseID)
	h.causes.forgetCause(ch.CauseID)
}

// forget drops what is cached of a cause by its slug. The Store already
// says when a cause changes (see causeChanged); this is for callers that
// say it too.
func (h *Handler) forget(slug string) {
	h.pages.mu.Lock()
	h.pages.drop(slug)
	h.pages.drop(homeKey)
	h.pages.mu.Unlock()
	h.causes.forget(slug)
}

// bodyCache keeps each cause's body rendered from Markdown, for the
// Markdown it last saw. A cause's page is kept per language and preselected country,
// and a body of 50 KB took half a second to render: a visitor going
// through Accept-Language's countries would otherwise have it rendered
// for each. Past maxBytes it starts again empty.
type bodyCache struct {
	mu       sync.Mutex
	m        map[int64]renderedBody
	bytes    int
	maxBytes int
	renders  atomic.Int64 // for tests
}

type renderedBody struct {
	md   string
	html template.HTML
}

func newBodyCache() *bodyCache { return &bodyCache{m: map[int64]renderedBody{}, maxBytes: 16 << 20} }

// get returns the cause's body as sanitised HTML.
func (b *bodyCache) get(cz Cause) template.HTML { return b.render(cz.ID, cz.BodyMD) }

// render returns md, the Markdown kept under id, as sanitised HTML.
func (b *bodyCache) render(id int64, md string) template.HTML {
	b.mu.Lock()
	e, ok := b.m[id]
	b.mu.Unlock()
	if ok && e.md == md {
		return e.html
	}
	b.renders.Add(1)
	html := templates.Markdown(md)
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.m[id]; ok {
		b.bytes -= len(old.md) + len(old.html)
	}
	if b.bytes+len(md)+len(html) > b.maxBytes {
		clear(b.m)
		b.bytes = 0
	}
	b.m[id] = renderedBody{md: md, html: html}
	b.bytes += len(md) + len(html)
	return html
}
