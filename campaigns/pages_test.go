package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// pagesEnv is a Handler serving the public routes through a Gin engine
// that picks each request's language as Rally's does, on a real database,
// with a stand-in for the donations feature.
type pagesEnv struct {
	t       *testing.T
	store   *Store
	w       *sql.DB
	h       *Handler
	engine  *gin.Engine
	org     int64
	raised  atomic.Int64 // what every cause has raised, in cents
	donated atomic.Bool  // whether donations show (the thank-you page's donate form)
}

func newPagesEnv(t *testing.T) *pagesEnv {
	t.Helper()
	gin.SetMode(gin.TestMode)
	w, r := mustOpenDB(t)
	s := NewStore(w, r)
	t.Cleanup(s.Close)
	rdr, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateOrganiser(context.Background(), "Org", "org@example.org", "correct horse battery", false, true)
	if err != nil {
		t.Fatal(err)
	}
	env := &pagesEnv{t: t, store: s, w: w, org: o.ID}
	env.donated.Store(true)
	env.h = NewHandler(s, rdr, HandlerConfig{BaseURL: "http://rally.test", Donations: fakeDonations{env}})
	// The page cache's clock stands still: what a test sees of a change
	// comes from the change, never from a page's second running out.
	now := time.Now()
	env.h.pages.now = func() time.Time { return now }
	env.engine = langEngine()
	env.h.PublicRoutes(env.engine)
	return env
}

// cause creates and publishes a cause.
func (env *pagesEnv) cause(in CauseInput) Cause {
	env.t.Helper()
	if in.Goal == 0 {
		in.Goal = 100
	}
	in.Lang = "en"
	c, err := env.store.CreateCause(context.Background(), env.org, in, "")
	if err != nil {
		env.t.Fatal(err)
	}
	if c, err = env.store.SetStatus(context.Background(), c.ID, Published); err != nil {
		env.t.Fatal(err)
	}
	return c
}

type pageResp struct {
	code   int
	body   string
	header http.Header
}

// do sends a request through the engine; headers are name/value pairs.
func (env *pagesEnv) do(method, path string, form url.Values, headers ...string) pageResp {
	env.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.Header.Set("Accept-Language", "en-GB,en;q=0.8")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	env.engine.ServeHTTP(rec, req)
	return pageResp{code: rec.Code, body: rec.Body.String(), header: rec.Header()}
}

func (env *pagesEnv) get(path string) string {
	env.t.Helper()
	r := env.do(http.MethodGet, path, nil)
	if r.code != http.StatusOK {
		env.t.Fatalf("GET %s: status %d", path, r.code)
	}
	return r.body
}

func (env *pagesEnv) post(path string, form url.Values) string {
	env.t.Helper()
	r := env.do(http.MethodPost, path, form)
	if r.code != http.StatusOK {
		env.t.Fatalf("POST %s: status %d\n%s", path, r.code, r.body)
	}
	return r.body
}

var outboxToken = regexp.MustCompile(`/confirm/([A-Za-z0-9_-]+)`)

// token returns the confirmation token of the latest mail to email.
func (env *pagesEnv) token(email string) string {
	env.t.Helper()
	var data string
	if err := env.w.QueryRow(`SELECT data FROM outbox WHERE to_addr = ? ORDER BY id DESC LIMIT 1`, email).Scan(&data); err != nil {
		env.t.Fatalf("no mail to %s: %v", email, err)
	}
	m := outboxToken.FindStringSubmatch(data)
	if m == nil {
		env.t.Fatalf("no confirmation link in the mail to %s: %s", email, data)
	}
	return m[1]
}

// fakeDonations stands in for the donations feature (which imports this
// package): its form and totals show what pagesEnv.raised says.
type fakeDonations struct{ env *pagesEnv }

func (d fakeDonations) Enabled() bool { return d.env.donated.Load() }

func (d fakeDonations) Form(ctx context.Context, lang string, c Cause, email string) any {
	if !d.env.donated.Load() {
		return nil
	}
	return &fakeDonateForm{Action: "/c/" + c.Slug + "/donate", Email: email, Errors: map[string]string{},
		Totals: &fakeTotals{TotalMinor: d.env.raised.Load(), Count: 1}}
}

func (d fakeDonations) Totals(ctx context.Context, lang string, c Cause) (DonationTotals, bool, error) {
	return DonationTotals{Currency: "eur", TotalMinor: d.env.raised.Load(), Count: 1}, d.env.donated.Load(), nil
}

// fakeDonateForm has what the "donate-form" partial reads.
type fakeDonateForm struct {
	Action  string
	Presets []struct {
		Value, Label string
		Checked      bool
	}
	Amount  string
	Monthly bool
	Email   string
	Errors  map[string]string
	Problem string
	Totals  *fakeTotals
}

type fakeTotals struct{ TotalMinor, Count, Donors, GoalMinor int64 }

func (f *fakeDonateForm) T(id string, args ...any) string { return id }
func (f *fakeDonateForm) Money(minor int64) string        { return fmt.Sprintf("raised-%d-cents", minor) }
func (f *fakeDonateForm) Min() string                     { return "1" }
func (f *fakeDonateForm) Max() string                     { return "1000" }

// Text anyone types — an organiser in a cause, a signer in the sign form —
// that reads like one of the stamped pages' placeholders stays that text:
// the next visitor's own address, name, confirmation token, donate form or
// referral code never lands inside it, in text, attributes or links. Each
// page is compared with the same page of a cause and signer whose text has
// something else in place of the placeholder.
func TestPlaceholdersInTypedTextStayText(t *testing.T) {
	var typed []string
	for _, ph := range placeholders {
		typed = append(typed, ph[0], ph[1])
	}
	// How they were spelled before, when any text could make one.
	for _, name := range []string{"EMAIL", "NAME", "TOKEN", "DONATE"} {
		if old := "x7rally" + name + "x7"; !slices.Contains(typed, old) {
			typed = append(typed, old)
		}
	}
	for _, ph := range typed {
		t.Run(ph, func(t *testing.T) {
			env := newPagesEnv(t)
			// The same journey in two worlds: in one the organiser and an
			// earlier signer typed the placeholder, in the other "zz…z".
			world := func(typed string) map[string]string {
				title := "Clean air & “quiet” streets " + typed
				c := env.cause(CauseInput{Title: title, Summary: "So we can breathe " + typed,
					BodyMD: "Why it matters: " + typed + "\n\n[Read more](https://example.org/" + typed + "?q=" + typed + ")",
					Target: "The mayor " + typed})
				// An earlier signer, whose name and comment show on the page.
				email := typed + "@example.org"
				env.post("/c/"+c.Slug+"/sign", url.Values{"name": {typed + " Sam"}, "email": {email}, "country": {"FR"},
					"postcode": {typed[:min(len(typed), MaxPostcode)]}, "comment": {"Because " + typed}, "public": {"1"},
					"ref": {typed}})
				env.post("/confirm/"+env.token(email), nil)
				// The visitor, arriving by a shared link.
				pages := map[string]string{"cause": env.get("/c/" + c.Slug + "?ref=verasref42")}
				pages["signed"] = env.post("/c/"+c.Slug+"/sign", url.Values{"name": {"Vera Visitor"},
					"email": {"vera.visitor@example.org"}, "country": {"FR"}, "public": {"1"}, "ref": {"verasref42"}})
				token := env.token("vera.visitor@example.org")
				pages["confirm"] = env.get("/confirm/" + token)
				pages["thanks"] = env.post("/confirm/"+token, nil)
				pages["token"] = token
				pages["title"] = title
				return pages
			}
			other := strings.Repeat("z", len(ph))
			got, want := world(ph), world(other)
			for _, page := range []string{"cause", "signed", "confirm", "thanks"} {
				for _, own := range []string{"Vera", "vera.visitor@example.org", "verasref42", "/donate", "raised-", "token"} {
					g, w := own, own
					if own == "token" {
						g, w = got["token"], want["token"]
					}
					if n, m := strings.Count(got[page], g), strings.Count(want[page], w); n != m {
						t.Errorf("%s page: the visitor's %q shows %d times where they typed %q, %d times otherwise",
							page, own, n, ph, m)
					}
				}
				// What the organiser typed shows as typed, escaped.
				if title := template.HTMLEscapeString(got["title"]); !strings.Contains(got[page], title) {
					t.Errorf("%s page: the title %q does not show as typed", page, got["title"])
				}
			}
			for _, typed := range []string{"So we can breathe " + ph, "Why it matters: " + ph, "The mayor " + ph,
				"<p class=\"who\">" + ph, "Because " + ph} {
				if !strings.Contains(got["cause"], typed) {
					t.Errorf("cause page: %q does not show as typed", typed)
				}
			}
			if !strings.Contains(got["confirm"], "The mayor "+ph) {
				t.Errorf("confirm page: the target does not show as typed")
			}
		})
	}
}
