package campaigns

import (
	"sync"
	"time"
)

// pageCache keeps rendered public cause pages for a second, per language and
// preselected country, so a viral cause renders about once a second instead
// of once a request. A confirmation or an edit forgets the cause's pages at
// once, so counts never lag behind a confirmation.
type pageCache struct {
	mu      sync.RWMutex
	ttl     time.Duration
	entries map[string]cachedPage
}

type cachedPage struct {
	body    []byte
	expires time.Time
	slug    string
}

func newPageCache() *pageCache {
	return &pageCache{ttl: time.Second, entries: map[string]cachedPage{}}
}

func pageKey(slug, lang, country string) string { return slug + "\x00" + lang + "\x00" + country }

func (p *pageCache) get(slug, lang, country string) ([]byte, bool) {
	p.mu.RLock()
	e, ok := p.entries[pageKey(slug, lang, country)]
	p.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.body, true
}

func (p *pageCache) put(slug, lang, country string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.entries) > 10000 {
		now := time.Now()
		for k, e := range p.entries {
			if now.After(e.expires) {
				delete(p.entries, k)
			}
		}
	}
	p.entries[pageKey(slug, lang, country)] = cachedPage{body: body, expires: time.Now().Add(p.ttl), slug: slug}
}

func (p *pageCache) forget(slug string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.entries {
		if e.slug == slug {
			delete(p.entries, k)
		}
	}
}

// forget drops every cached rendering of a cause after it changed.
func (h *Handler) forget(slug string) {
	h.pages.forget(slug)
	h.causes.forget(slug)
}
