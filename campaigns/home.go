package campaigns

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

type homeData struct {
	// Query is the search as cleaned (see cleanQuery); "" on the list.
	Query string
	// Trending and Victories head the list's first page.
	Trending  []causeCard
	Victories []causeCard
	// Causes is the page of the list, or of the search's results.
	Causes []causeCard
	// Newest stands in for a search that found nothing.
	Newest []causeCard
	Total  int
	Page   int
	Pages  int
	Prev   string
	Next   string
}

type causeCard struct {
	Cause    Cause
	ImageURL string
	Count    int64
	Goal     int64
	// Recent is, for a trending cause, its signatures of the last 24 hours.
	Recent int64
}

// homeKey is the home page's name in the page cache: no slug has a slash.
const homeKey = "/"

// homePageSize is how many causes a page of the list or of a search shows:
// rows of one, two or three cards.
const homePageSize = 24

// maxPage is the highest page number read from an address; past the last
// page the last one is shown anyway.
const maxPage = 100000

// homeQuery is what of the request's address changes the home page: the
// search and the page, as cleaned. Anything else in the address is
// ignored, so made-up queries find the same few cached pages.
type homeQuery struct {
	q    string
	page int
}

func readHomeQuery(c *gin.Context) homeQuery {
	hq := homeQuery{q: cleanQuery(c.Query("q")), page: 1}
	if n, err := strconv.Atoi(c.Query("page")); err == nil && n > 1 {
		hq.page = min(n, maxPage)
	}
	return hq
}

// key names the page in the page cache: "" for the plain home page.
func (hq homeQuery) key() string {
	if hq.q == "" && hq.page == 1 {
		return ""
	}
	return strconv.Itoa(hq.page) + "\x00" + hq.q
}

// url returns the home page's address for the search on page n.
func (hq homeQuery) url(n int) string {
	v := url.Values{}
	if hq.q != "" {
		v.Set("q", hq.q)
	}
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// The home page is served from the page cache, one page per language and
// per search and page (see homeQuery.key; at most maxHomeVariants kept).
// A search or a later page not in the cache is rendered only when one of
// searchTurns is free: a flood of made-up searches then waits its turn
// instead of taking every core from the cause pages and signing.
func (h *Handler) home(c *gin.Context) {
	lang := templates.LangOf(c)
	hq := readHomeQuery(c)
	publicCache(c)
	render := func(shared bool) (rendered, bool) {
		if hq.key() != "" {
			if !h.turns.take(c.Request.Context()) {
				c.Header("Retry-After", "5")
				c.AbortWithStatus(http.StatusTooManyRequests)
				return rendered{}, false
			}
			defer h.turns.give()
		}
		return h.renderHome(c, hq, shared)
	}
	if h.personal(c) {
		if r, ok := render(false); ok {
			writeBody(c, "text/html; charset=utf-8", newBody(r.raw))
		}
		return
	}
	h.servePage(c, homeKey, variant{lang: lang, query: hq.key()}, "text/html; charset=utf-8", "", "", func() (rendered, bool) {
		return render(true)
	})
}

// renderTurns bounds how many searches render at once.
type renderTurns struct {
	ch   chan struct{}
	wait time.Duration
}

func newRenderTurns(n int, wait time.Duration) *renderTurns {
	return &renderTurns{ch: make(chan struct{}, n), wait: wait}
}

// take waits up to the turns' wait for a turn, and reports whether it got one.
func (t *renderTurns) take(ctx context.Context) bool {
	select {
	case t.ch <- struct{}{}:
		return true
	default:
	}
	timer := time.NewTimer(t.wait)
	defer timer.Stop()
	select {
	case t.ch <- struct{}{}:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	return false
}

func (t *renderTurns) give() { <-t.ch }

// trendingCache keeps the trending causes for a minute: counting a day of
// confirmations per open cause is too much for every rendering of a home
// page that confirmations keep forgetting.
type trendingCache struct {
	mu    sync.Mutex
	at    time.Time
	list  []Trending
	valid bool
}

const trendingTTL = time.Minute

func (h *Handler) trending(ctx context.Context) ([]Trending, error) {
	now := h.store.now()
	t := h.trend
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.valid && now.Sub(t.at) < trendingTTL && !now.Before(t.at) {
		return t.list, nil
	}
	list, err := h.store.TrendingCauses(ctx, 3)
	if err != nil {
		return nil, err
	}
	t.at, t.list, t.valid = now, list, true
	return list, nil
}

func (h *Handler) listCard(cz Cause) causeCard {
	return causeCard{Cause: cz, ImageURL: h.imageURL(cz), Count: cz.SignatureCount, Goal: NextGoal(cz.SignatureCount, cz.Goal)}
}

func (h *Handler) listCards(causes []Cause) []causeCard {
	out := make([]causeCard, len(causes))
	for i, cz := range causes {
		out[i] = h.listCard(cz)
	}
	return out
}

// renderHome renders the home page: the list of causes, headed on its
// first page by those trending and the latest victories, or a search's
// results. Shared, for the page cache, it is the page of the address that
// hq makes.
func (h *Handler) renderHome(c *gin.Context, hq homeQuery, shared bool) (rendered, bool) {
	ctx := c.Request.Context()
	lang := templates.LangOf(c)
	cat := h.rdr.Catalogue
	data := homeData{Query: hq.q}
	var l Listing
	var err error
	if hq.q != "" {
		l, err = h.store.Search(ctx, hq.q, hq.page, homePageSize)
		if err == nil && l.Total == 0 {
			var newest []Cause
			newest, err = h.store.ListPublished(ctx, 6)
			data.Newest = h.listCards(newest)
		}
	} else {
		l, err = h.store.ListPage(ctx, hq.page, homePageSize)
		if err == nil && l.Page == 1 {
			var trend []Trending
			var won []Cause
			if trend, err = h.trending(ctx); err == nil {
				won, err = h.store.RecentVictories(ctx, 3)
			}
			for _, t := range trend {
				card := h.listCard(t.Cause)
				card.Recent = t.Recent
				data.Trending = append(data.Trending, card)
			}
			data.Victories = h.listCards(won)
		}
	}
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	data.Causes, data.Total, data.Page, data.Pages = h.listCards(l.Causes), l.Total, l.Page, l.Pages
	if l.Page > 1 {
		data.Prev = hq.url(l.Page - 1)
	}
	if l.Page < l.Pages {
		data.Next = hq.url(l.Page + 1)
	}
	title := cat.T(lang, "HomeTitle")
	if hq.q != "" {
		title = cat.T(lang, "SearchTitle", "Query", hq.q)
	}
	if l.Pages > 1 {
		title = cat.T(lang, "HomePageTitle", "Title", title, "Page", l.Page, "Pages", l.Pages)
	}
	// Searches are endless: search engines keep to the list.
	page := &templates.Page{Title: title, Description: cat.T(lang, "HomeLead"), Data: data, NoIndex: hq.q != ""}
	h.rdr.FillPage(c, page)
	if shared {
		page.Path = hq.url(l.Page)
	}
	raw, err := h.renderPage("campaigns/home.html", page)
	if err != nil {
		h.fail(c, err)
		return rendered{}, false
	}
	return rendered{raw: raw, keep: true}, true
}
