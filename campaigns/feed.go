package campaigns

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// The Atom feed of a cause's updates (RFC 4287), for feed readers and
// for partners who follow a cause.

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Lang    string      `xml:"xml:lang,attr,omitempty"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	ID        string     `xml:"id"`
	Title     string     `xml:"title"`
	Published string     `xml:"published"`
	Updated   string     `xml:"updated"`
	Links     []atomLink `xml:"link"`
	Content   atomText   `xml:"content"`
}

// maxFeedEntries is how many of the newest updates the feed holds.
const maxFeedEntries = 50

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// updatesFeed answers the Atom feed of a public cause's updates, kept in
// the page cache like the cause's page, and forgotten with it.
func (h *Handler) updatesFeed(c *gin.Context) {
	slug := c.Param("slug")
	c.Header("Cache-Control", "public, max-age=0, s-maxage=60, stale-while-revalidate=300")
	h.servePage(c, slug, variant{lang: "atom"}, "application/atom+xml; charset=utf-8", "", "", func() (rendered, bool) {
		return h.renderFeed(c, slug)
	})
}

func (h *Handler) renderFeed(c *gin.Context, slug string) (rendered, bool) {
	ctx := c.Request.Context()
	cz, err := h.store.FindCauseBySlug(ctx, slug)
	if errors.Is(err, ErrNotFound) || (err == nil && !cz.Public()) {
		c.AbortWithStatus(http.StatusNotFound)
		return rendered{}, false
	}
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	us, err := h.store.ListUpdates(ctx, cz.ID, maxFeedEntries)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	byline, err := h.store.FindByline(ctx, cz, h.store.now())
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	page := h.causeURL(cz)
	self := page + "/updates.atom"
	updated := cz.CreatedAt
	if cz.PublishedAt != nil {
		updated = *cz.PublishedAt
	}
	f := atomFeed{Lang: cz.Lang, ID: self, Title: cz.Title, Author: atomPerson{Name: byline.Organiser},
		Links: []atomLink{{Rel: "self", Type: "application/atom+xml", Href: self}, {Rel: "alternate", Type: "text/html", Href: page}}}
	for _, u := range us {
		if u.UpdatedAt.After(updated) {
			updated = u.UpdatedAt
		}
		link := page + "#" + u.Anchor()
		f.Entries = append(f.Entries, atomEntry{ID: link, Title: u.Title, Published: atomTime(u.CreatedAt),
			Updated: atomTime(u.UpdatedAt), Links: []atomLink{{Rel: "alternate", Type: "text/html", Href: link}},
			Content: atomText{Type: "html", Body: string(h.updates.render(u.ID, u.BodyMD))}})
	}
	f.Updated = atomTime(updated)
	var b strings.Builder
	b.WriteString(xml.Header)
	if err := xml.NewEncoder(&b).Encode(f); err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	return rendered{raw: []byte(b.String()), cause: cz.ID, keep: true}, true
}
