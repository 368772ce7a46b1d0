package campaigns

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSearchText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"L’École des forêts", "ecole des foret"},
		{"Une œuvre d'art", "une oeuvre art"},
		{"jusqu'à l'Hôtel-Dieu", "a hotel dieu"},
		{"Journaux, bateaux et jeux", "journal bateau et jeu"},
		{"Cities and city", "citi and citi"},
		{"ﬁnancement Straße", "financement strasse"},
		{`title:x NEAR "y" (z* -w`, "title x near y z w"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := searchText(tc.in); got != tc.want {
				t.Errorf("searchText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// searchEnv is a site with causes to search: each is created by its
// organiser through the store, then published, closed or won.
type searchEnv struct {
	*siteEnv
	org Organiser
}

func newSearchEnv(t *testing.T) *searchEnv {
	env := newSiteEnv(t)
	o, err := env.store.CreateOrganiser(context.Background(), "Olive", "olive@example.org", "correct horse battery", false, true)
	if err != nil {
		t.Fatal(err)
	}
	return &searchEnv{siteEnv: env, org: o}
}

// cause creates a cause and moves it to status (draft leaves it there).
func (env *searchEnv) cause(title, summary, body string, status Status) Cause {
	env.t.Helper()
	ctx := context.Background()
	c, err := env.store.CreateCause(ctx, env.org.ID, CauseInput{Title: title, Summary: summary, BodyMD: body,
		Target: "La mairie", Goal: 100, Lang: "fr"}, "")
	if err != nil {
		env.t.Fatal(err)
	}
	env.now = env.now.Add(time.Minute)
	if status == Draft {
		return c
	}
	if c, err = env.store.SetStatus(ctx, c.ID, Published); err != nil {
		env.t.Fatal(err)
	}
	if status != Published {
		if c, err = env.store.SetStatus(ctx, c.ID, status); err != nil {
			env.t.Fatal(err)
		}
	}
	return c
}

// confirm adds n confirmed signatures to the cause.
func (env *searchEnv) confirm(c Cause, n int) {
	env.t.Helper()
	for range n {
		sg := testSigning(c, fmt.Sprintf("s%d@example.org", env.now.UnixNano()))
		if _, err := env.store.Sign(context.Background(), sg); err != nil {
			env.t.Fatal(err)
		}
		if _, err := env.store.Confirm(context.Background(), sg.Token); err != nil {
			env.t.Fatal(err)
		}
		env.now = env.now.Add(time.Second)
	}
}

var cardLink = regexp.MustCompile(`class="card-link" href="/c/([a-z0-9-]+)"`)

// found returns the slugs of the cause cards of a page, in order.
func found(body string) []string {
	var slugs []string
	for _, m := range cardLink.FindAllStringSubmatch(body, -1) {
		slugs = append(slugs, m[1])
	}
	return slugs
}

func (env *searchEnv) search(q string) []string {
	env.t.Helper()
	rec := env.get("/?q="+url.QueryEscape(q), nil)
	if rec.Code != http.StatusOK {
		env.t.Fatalf("GET /?q=%s: status %d", q, rec.Code)
	}
	if strings.Contains(rec.Body.String(), `class="empty"`) {
		return nil // the newest causes, offered instead
	}
	return found(rec.Body.String())
}

// A French cause is found by what people type: without accents, with the
// ligature spelt out, without the elided article, in the singular, or the
// first letters of a word; in either language of the site.
func TestSearchFindsFrenchCause(t *testing.T) {
	env := newSearchEnv(t)
	school := env.cause("Sauvons l’école du village", "Les forêts de Compiègne et une œuvre commune", "Les Journaux en parlent.", Published)
	env.cause("Clean air for Leeds", "Fewer cars near schools", "", Published)
	for _, q := range []string{"ecole", "École", "l'ecole", "oeuvre", "œuvre", "foret", "forêts", "compie", "journal", "VILLAGE sauvons", "ecole foret compiegne"} {
		for _, lang := range []string{"en", "fr"} {
			rec := env.get("/?lang="+lang+"&q="+url.QueryEscape(q), nil)
			if got := found(rec.Body.String()); rec.Code != http.StatusOK || !slices.Equal(got, []string{school.Slug}) {
				t.Errorf("lang %s, q %q: status %d, found %v, want [%s]", lang, q, rec.Code, got, school.Slug)
			}
		}
	}
	if !strings.Contains(env.get("/?q=ecole", nil).Body.String(), `content="noindex"`) ||
		strings.Contains(env.get("/", nil).Body.String(), `content="noindex"`) {
		t.Errorf("search pages should ask search engines not to index them, and only they")
	}
	if got := env.search("cars"); len(got) != 1 || got[0] == school.Slug {
		t.Errorf("q cars found %v, want only the English cause", got)
	}
}

// Closed and won causes are found, after every open one even when the
// word is in their title; drafts are never found.
func TestSearchRanksOpenAboveClosed(t *testing.T) {
	env := newSearchEnv(t)
	closed := env.cause("Piscine municipale", "Rouvrir la piscine", "La piscine, la piscine.", Closed)
	won := env.cause("Piscines ouvertes l’été", "Des piscines", "", Victory)
	draft := env.cause("Piscine secrète", "Brouillon", "", Draft)
	open := env.cause("Un quartier vivant", "Des commerces", "Avec une piscine.", Published)
	got := env.search("piscine")
	if len(got) != 3 || got[0] != open.Slug || !slices.Contains(got, closed.Slug) || !slices.Contains(got, won.Slug) {
		t.Errorf("q piscine found %v, want %s first, then %s and %s", got, open.Slug, closed.Slug, won.Slug)
	}
	if slices.Contains(got, draft.Slug) || slices.Contains(env.search("secrete"), draft.Slug) {
		t.Errorf("a draft was found")
	}
	// Published, it can be found; its title words weigh more than a
	// body's, so it comes before the open cause that has it in its body.
	if _, err := env.store.SetStatus(context.Background(), draft.ID, Published); err != nil {
		t.Fatal(err)
	}
	if got := env.search("piscine"); len(got) != 4 || got[0] != draft.Slug || got[1] != open.Slug {
		t.Errorf("after publishing the draft, q piscine found %v, want %s then %s first", got, draft.Slug, open.Slug)
	}
}

// An edit changes what a cause is found by at once.
func TestSearchFollowsEdits(t *testing.T) {
	env := newSearchEnv(t)
	c := env.cause("Des arbres rue Pasteur", "Plantons", "", Published)
	if got := env.search("arbres"); !slices.Equal(got, []string{c.Slug}) {
		t.Fatalf("before the edit, q arbres found %v", got)
	}
	if _, _, err := env.store.UpdateCause(context.Background(), c.ID, CauseInput{Title: "Des bancs rue Pasteur",
		Summary: "Asseyons-nous", Target: "La mairie", Goal: 100, Lang: "fr"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := env.search("arbre"); len(got) != 0 {
		t.Errorf("after the edit, q arbre still found %v", got)
	}
	if got := env.search("banc asseyon"); !slices.Equal(got, []string{c.Slug}) {
		t.Errorf("after the edit, q banc asseyon found %v", got)
	}
}

// Whatever is in q or page, the answer is a page: full-text syntax is
// never read as such, a long q is cut, a page out of range or not a
// number shows a page of causes.
func TestSearchHostileInput(t *testing.T) {
	env := newSearchEnv(t)
	c := env.cause("Sauvons l’école", "Pour les enfants", "", Published)
	for _, q := range []string{`"`, `"ecole`, `ecole"`, `ecole NEAR enfants`, `ecole NEAR/2 enfants`, `*`, `ecole*`, `-ecole`,
		`ecole -enfants`, `title:ecole`, `body:`, `(((`, `ecole)`, `(ecole OR`, `AND`, `OR OR`, `NOT ecole`, `^ecole`, `'`,
		`ecole'`, "\x00", "\xff\xfe", `%`, `_`, `\`, `ecole` + strings.Repeat(" x", 5000), strings.Repeat("é", 3000),
		strings.Repeat("(", 200), `{ecole}`, `ecole:enfants`, `'; DROP TABLE causes; --`, `<script>alert(1)</script>`, `"><script>alert(1)</script>`} {
		rec := env.get("/?q="+url.QueryEscape(q), nil)
		if rec.Code != http.StatusOK {
			t.Errorf("q %.40q: status %d", q, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "<script>alert") {
			t.Errorf("q %.40q: the page holds the script typed", q)
		}
		if len(rec.Body.String()) > 200_000 {
			t.Errorf("q %.40q: a page of %d bytes", q, rec.Body.Len())
		}
	}
	// Around the words, the syntax is nothing: the words still find the cause.
	if got := env.search(`"ecole" (enfants* -`); !slices.Equal(got, []string{c.Slug}) {
		t.Errorf("q with syntax found %v, want [%s]", got, c.Slug)
	}
	for _, p := range []string{"abc", "-1", "0", "99999999999999999999999", "1e3", "2", "%00"} {
		rec := env.get("/?page="+p, nil)
		if got := found(rec.Body.String()); rec.Code != http.StatusOK || !slices.Equal(got, []string{c.Slug}) {
			t.Errorf("page %q: status %d, found %v", p, rec.Code, got)
		}
		rec = env.get("/?q=ecole&page="+p, nil)
		if got := found(rec.Body.String()); rec.Code != http.StatusOK || !slices.Equal(got, []string{c.Slug}) {
			t.Errorf("q ecole, page %q: status %d, found %v", p, rec.Code, got)
		}
	}
}

// A search that finds nothing says so and offers the newest causes.
func TestSearchNothingFound(t *testing.T) {
	env := newSearchEnv(t)
	c := env.cause("Sauvons l’école", "Pour les enfants", "", Published)
	for lang, says := range map[string]string{"en": "No cause matches", "fr": "Aucune cause ne correspond"} {
		rec := env.get("/?lang="+lang+"&q=zeppelin", nil)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, says) || !strings.Contains(body, "zeppelin") {
			t.Errorf("%s: status %d; the page does not say %q about zeppelin", lang, rec.Code, says)
		}
		if got := found(body); !slices.Equal(got, []string{c.Slug}) {
			t.Errorf("%s: the empty search suggests %v, want the newest cause %s", lang, got, c.Slug)
		}
	}
}

// The list of causes is paged, newest first, and so is a search.
func TestHomePaging(t *testing.T) {
	env := newSearchEnv(t)
	var slugs []string
	for i := range homePageSize + 6 {
		slugs = append(slugs, env.cause(fmt.Sprintf("Cause numéro %d", i), "Un résumé", "", Published).Slug)
	}
	slices.Reverse(slugs)
	for _, tc := range []struct {
		target string
		want   []string
		next   string
	}{
		{"/", slugs[:homePageSize], `href="/?page=2"`},
		{"/?page=2", slugs[homePageSize:], `href="/" rel="prev"`},
		{"/?page=7", slugs[homePageSize:], `href="/" rel="prev"`},
		{"/?q=numero", slugs[:homePageSize], `href="/?page=2&amp;q=numero"`},
		{"/?q=numero&page=2", slugs[homePageSize:], `href="/?q=numero" rel="prev"`},
	} {
		rec := env.get(tc.target, nil)
		body := rec.Body.String()
		if got := found(body); !slices.Equal(got, tc.want) {
			t.Errorf("%s: found %v, want %v", tc.target, got, tc.want)
		}
		if !strings.Contains(body, tc.next) {
			t.Errorf("%s: no link %s", tc.target, tc.next)
		}
	}
}

// trendingSlugs returns the slugs of the home page's trending section.
func trendingSlugs(body string) []string {
	start := strings.Index(body, `id="trending-heading"`)
	if start < 0 {
		return nil
	}
	end := strings.Index(body[start:], "</section>")
	return found(body[start : start+end])
}

// Trending follows fresh confirmations: a day's signatures count, the
// newer the more; an older burst gives way to a newer one.
func TestTrendingMovesWithConfirmations(t *testing.T) {
	env := newSearchEnv(t)
	a := env.cause("Cause A", "Résumé", "", Published)
	b := env.cause("Cause B", "Résumé", "", Published)
	quiet := env.cause("Cause calme", "Résumé", "", Published)
	if got := trendingSlugs(env.get("/", nil).Body.String()); got != nil {
		t.Fatalf("with no signature, trending shows %v", got)
	}
	env.confirm(a, 6)
	env.now = env.now.Add(2 * time.Minute)
	if got := trendingSlugs(env.get("/", nil).Body.String()); !slices.Equal(got, []string{a.Slug}) {
		t.Fatalf("after A's confirmations, trending = %v, want [%s]", got, a.Slug)
	}
	// Ten hours later, B's four fresh signatures outweigh A's six old ones.
	env.now = env.now.Add(10 * time.Hour)
	env.confirm(b, 4)
	env.now = env.now.Add(2 * time.Minute)
	if got := trendingSlugs(env.get("/", nil).Body.String()); !slices.Equal(got, []string{b.Slug, a.Slug}) {
		t.Fatalf("after B's confirmations, trending = %v, want [%s %s]", got, b.Slug, a.Slug)
	}
	// A day on, only what was confirmed in the last 24 hours counts.
	env.now = env.now.Add(20 * time.Hour)
	env.confirm(quiet, 1)
	env.now = env.now.Add(2 * time.Minute)
	body := env.get("/", nil).Body.String()
	if got := trendingSlugs(body); !slices.Equal(got, []string{quiet.Slug, b.Slug}) {
		t.Fatalf("a day on, trending = %v, want [%s %s]", got, quiet.Slug, b.Slug)
	}
	if !strings.Contains(body, "4 signed in the last 24 hours") {
		t.Errorf("the trending card does not say how many signed in the last day")
	}
}

// Causes declared won head the home page.
func TestHomeShowsVictories(t *testing.T) {
	env := newSearchEnv(t)
	env.cause("Encore ouverte", "Résumé", "", Published)
	won := env.cause("Gagnée", "Résumé", "", Victory)
	body := env.get("/", nil).Body.String()
	start := strings.Index(body, `id="victories-heading"`)
	if start < 0 {
		t.Fatal("no victories section on the home page")
	}
	end := strings.Index(body[start:], "</section>")
	if got := found(body[start : start+end]); !slices.Equal(got, []string{won.Slug}) {
		t.Errorf("victories = %v, want [%s]", got, won.Slug)
	}
}

// A search is rendered once for everyone asking it, until a cause changes
// or a confirmation moves a count; and made-up searches do not push the
// cause pages out of the cache.
func TestSearchPagesCached(t *testing.T) {
	env := newSearchEnv(t)
	c := env.cause("Sauvons l’école", "Pour les enfants", "", Published)
	before := env.h.pages.renders.Load()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { env.get("/?q=ecole&utm_source=x", nil) })
	}
	wg.Wait()
	if n := env.h.pages.renders.Load() - before; n != 1 {
		t.Errorf("20 requests of one search rendered it %d times, want 1", n)
	}
	env.confirm(c, 1)
	if body := env.get("/?q=ecole", nil).Body.String(); !strings.Contains(body, "1 signature") {
		t.Errorf("after a confirmation the search still shows the old count")
	}
	env.get("/c/"+c.Slug, nil)
	for i := range maxHomeVariants + 50 {
		env.get(fmt.Sprintf("/?q=made-up-%d", i), nil)
	}
	env.h.pages.mu.RLock()
	home, cause := len(env.h.pages.bySlug[homeKey]), len(env.h.pages.bySlug[c.Slug])
	env.h.pages.mu.RUnlock()
	if home > maxHomeVariants || cause == 0 {
		t.Errorf("after many searches the cache holds %d home pages (max %d) and %d of the cause's", home, maxHomeVariants, cause)
	}
}

// A search not in the cache waits for a turn; one that cannot get one
// is told to come back, never given a 5xx.
func TestSearchRendersTakeTurns(t *testing.T) {
	env := newSearchEnv(t)
	env.cause("Sauvons l’école", "Pour les enfants", "", Published)
	env.h.turns = newRenderTurns(1, 10*time.Millisecond)
	env.h.turns.ch <- struct{}{} // another search is rendering
	if rec := env.get("/?q=ecole", nil); rec.Code != http.StatusTooManyRequests {
		t.Errorf("with no turn free, status %d, want 429", rec.Code)
	}
	if rec := env.get("/", nil); rec.Code != http.StatusOK {
		t.Errorf("the plain home page waited for a search's turn: status %d", rec.Code)
	}
	env.h.turns.give()
	if rec := env.get("/?q=ecole", nil); rec.Code != http.StatusOK {
		t.Errorf("with a turn free, status %d", rec.Code)
	}
}

// However many pages poll a cause's JSON, it is read once per interval,
// and a confirmation shows in it at once.
func TestCauseJSONReadOncePerInterval(t *testing.T) {
	env := newSearchEnv(t)
	c := env.cause("Sauvons l’école", "Pour les enfants", "", Published)
	before := env.h.pages.renders.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if rec := env.get("/c/"+c.Slug+".json", nil); rec.Code != http.StatusOK {
				t.Errorf("status %d", rec.Code)
			}
		})
	}
	wg.Wait()
	if n := env.h.pages.renders.Load() - before; n != 1 {
		t.Errorf("50 polls read the cause %d times, want 1", n)
	}
	env.confirm(c, 1)
	if body := env.get("/c/"+c.Slug+".json", nil).Body.String(); !strings.Contains(body, `"signature_count":1`) {
		t.Errorf("after a confirmation the JSON says %s", body)
	}
}

// Migration 010 indexes the causes already there.
func TestSearchMigrationIndexesExistingCauses(t *testing.T) {
	w, apply := migrationDB(t)
	names, err := fs.Glob(Migrations(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name < "010" {
			apply(name)
		}
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if _, err := w.Exec(`INSERT INTO organisers (id, name, email, email_key, password_hash, created_at, updated_at)
		VALUES (1, 'O', 'o@example.org', 'o@example.org', 'x', ?1, ?1)`, now); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO causes (id, organiser_id, slug, title, summary, status, published_at, created_at, updated_at)
		VALUES (1, 1, 'ecole', 'L’École des forêts', 'Résumé', 'published', ?1, ?1, ?1)`, now); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name >= "010" {
			apply(name)
		}
	}
	s := NewStore(w, w)
	t.Cleanup(s.Close)
	l, err := s.Search(context.Background(), "foret", 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Causes) != 1 || l.Causes[0].Slug != "ecole" {
		t.Errorf("after the migration, q foret found %v", l.Causes)
	}
}
