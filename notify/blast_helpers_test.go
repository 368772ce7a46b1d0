package notify

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// testAudience is a cause's audience held in memory: notify takes its
// audience from campaigns through the Audience interface, and this stands
// for campaigns, not for notify's own tables.
type testAudience struct {
	mu     sync.Mutex
	cause  Cause
	people []Recipient
}

func (a *testAudience) Cause(_ context.Context, slug string) (Cause, error) {
	if slug != a.cause.Slug {
		return Cause{}, ErrNotFound
	}
	return a.cause, nil
}

func (a *testAudience) Recipients(_ context.Context, causeID int64, countries []string, after int64, limit int) ([]Recipient, int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Recipient
	pos := after
	for i := int(after); i < len(a.people) && len(out) < limit; i++ {
		pos = int64(i + 1)
		if len(countries) > 0 && !slices.Contains(countries, a.people[i].Country) {
			continue
		}
		out = append(out, a.people[i])
	}
	return out, pos, nil
}

func (a *testAudience) Countries(_ context.Context, causeID int64, lang string) ([]Country, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	counts := map[string]int64{}
	for _, p := range a.people {
		counts[p.Country]++
	}
	var out []Country
	for c, n := range counts {
		out = append(out, Country{Code: c, Name: c, Count: n})
	}
	slices.SortFunc(out, func(a, b Country) int { return strings.Compare(a.Code, b.Code) })
	return out, nil
}

func (a *testAudience) add(people ...Recipient) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range people {
		p.ID = int64(len(a.people) + 1)
		a.people = append(a.people, p)
	}
}

// blastEnv is blasts wired as cmd/rally wires them: the real database,
// templates and worker, an in-process SMTP server, and the routes on a Gin
// engine with an organiser signed in.
type blastEnv struct {
	t       *testing.T
	w, r    *sql.DB
	blasts  *Blasts
	worker  *Worker
	smtp    *smtpServer
	aud     *testAudience
	engine  *gin.Engine
	clock   *clock
	org     Organiser
	dkim    *DKIM
	headKey bool // send the next requests as HEAD through the GET routes
}

const testBase = "https://rally.test"

type blastEnvOptions struct {
	smtp   smtpOptions
	dkim   *DKIM
	window int
	cap    int64
	res    Resolver
}

func newBlastEnv(t *testing.T, opts blastEnvOptions) *blastEnv {
	t.Helper()
	gin.SetMode(gin.TestMode)
	w, r := mustOpenDB(t)
	rdr, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	e := &blastEnv{t: t, w: w, r: r, clock: newClock(), smtp: startSMTP(t, opts.smtp),
		aud: &testAudience{cause: Cause{ID: 7, OrganiserID: 3, Slug: "clean-air", Title: "Clean air for Rue des Tilleuls",
			URL: testBase + "/c/clean-air"}},
		org: Organiser{ID: 3, Name: "Olive Organiser", Email: "olive@example.org", Confirmed: true}}
	if opts.cap == 0 {
		opts.cap = 10000
	}
	if opts.res == nil {
		opts.res = stubResolver{}
	}
	e.blasts = NewBlasts(w, r, rdr, e.aud, BlastConfig{BaseURL: testBase, Secret: []byte("a test secret of some length"),
		MailFrom: "Rally <rally@example.org>", DailyCap: opts.cap, Window: opts.window, Now: e.clock.Now,
		Resolver: opts.res, Logger: testLogger(t)})
	sender, err := NewSMTPSender("smtp://"+e.smtp.Addr+"?tls=none", "Rally <rally@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	if opts.dkim != nil {
		sender.SetDKIM(opts.dkim)
		e.dkim = opts.dkim
	}
	t.Cleanup(sender.CloseIdle)
	e.worker = NewWorker(w, sender, WorkerOptions{Conns: 2, Now: e.clock.Now, Logger: testLogger(t), Renderer: rdr, Blasts: e.blasts, Reader: r})
	e.engine = gin.New()
	e.engine.Use(templates.LanguageMiddleware(false), func(c *gin.Context) {
		if e.headKey {
			c.Request = c.Request.WithContext(HeadRequest(c.Request.Context()))
		}
	})
	e.blasts.PublicRoutes(e.engine)
	e.blasts.OrganiserRoutes(e.engine, func(c *gin.Context, slug string) bool { return slug == e.aud.cause.Slug },
		func(*gin.Context) (Organiser, bool) { return e.org, true })
	e.blasts.AdminRoutes(e.engine.Group("/admin"))
	return e
}

// stubResolver answers TXT lookups from a map; a name not in it does not
// exist, and a name mapped to nil makes DNS fail.
type stubResolver map[string][]string

func (s stubResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	v, ok := s[name]
	if !ok {
		return nil, &netDNSNotFound
	}
	if v == nil {
		return nil, fmt.Errorf("lookup %s: connection refused", name)
	}
	return v, nil
}

type response struct {
	status int
	body   string
	header http.Header
}

// do sends a request through the engine.
func (e *blastEnv) do(method, target string, form url.Values) response {
	e.t.Helper()
	return e.doAgent(method, target, "", form)
}

// doAgent sends a request with a User-Agent.
func (e *blastEnv) doAgent(method, target, agent string, forms ...url.Values) response {
	e.t.Helper()
	var form url.Values
	if len(forms) > 0 {
		form = forms[0]
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if agent != "" {
		req.Header.Set("User-Agent", agent)
	}
	rec := httptest.NewRecorder()
	e.engine.ServeHTTP(rec, req)
	return response{status: rec.Code, body: rec.Body.String(), header: rec.Header()}
}

// people adds n recipients named Person 0…n-1, at person0@example.org….
func (e *blastEnv) people(n int) []string {
	var addrs []string
	for i := range n {
		a := fmt.Sprintf("person%d@example.org", i)
		e.aud.add(Recipient{Email: a, FirstName: fmt.Sprintf("Person%d", i), Lang: "en", Country: "FR"})
		addrs = append(addrs, a)
	}
	return addrs
}

// draft saves a blast through the form and returns its path.
func (e *blastEnv) draft(form url.Values) string {
	e.t.Helper()
	base := url.Values{"subject": {"Hello {first_name|friend}"}, "body": {"The council meets on **Monday**.\n\nRead [the plan](https://example.org/plan)."},
		"cta_label": {"Write to the mayor"}, "cta_url": {"https://example.org/write"}}
	for k, v := range form {
		base[k] = v
	}
	r := e.do("POST", "/campaigns/clean-air/blasts", base)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("save draft: status %d\n%s", r.status, r.body)
	}
	return r.header.Get("Location")
}

// send sends a draft now.
func (e *blastEnv) send(path string) {
	e.t.Helper()
	if r := e.do("POST", path+"/send", url.Values{}); r.status != http.StatusSeeOther {
		e.t.Fatalf("send: status %d\n%s", r.status, r.body)
	}
}

// run drives the fan-out and the worker until nothing is left to do now.
func (e *blastEnv) run() {
	e.t.Helper()
	ctx := context.Background()
	for range 10000 {
		busy, err := e.blasts.Step(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		n, err := e.worker.DeliverDue(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if !busy && n == 0 {
			if busy, err = e.blasts.Step(ctx); err != nil || !busy {
				return
			}
		}
	}
	e.t.Fatal("blasts never settled")
}

// stats reads a blast's JSON.
func (e *blastEnv) stats(path string) blastJSON {
	e.t.Helper()
	r := e.do("GET", path+".json", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s.json: status %d", path, r.status)
	}
	var j blastJSON
	if err := jsonUnmarshal(r.body, &j); err != nil {
		e.t.Fatal(err)
	}
	return j
}

// blastMail is a received message, its parts decoded.
type blastMail struct {
	raw    []byte
	header mail.Header
	text   string
	html   string
}

// mails returns what the SMTP server received for to.
func (e *blastEnv) mails(to string) []blastMail {
	e.t.Helper()
	var out []blastMail
	for _, m := range e.smtp.received() {
		if !slices.Contains(m.To, to) {
			continue
		}
		out = append(out, parseBlastMail(e.t, m.Data))
	}
	return out
}

func parseBlastMail(t *testing.T, raw []byte) blastMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	pm := blastMail{raw: raw, header: msg.Header}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
		pm.text = string(b)
		return pm
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable itself
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			pm.html = string(b)
		} else {
			pm.text = string(b)
		}
	}
	return pm
}

var (
	trackedLink = regexp.MustCompile(`https://rally\.test/t/[A-Za-z0-9_-]+`)
	unsubLink   = regexp.MustCompile(`https://rally\.test/u/[A-Za-z0-9_-]+`)
)

// deliveryStates counts a blast's delivery rows by state.
func (e *blastEnv) deliveryStates() map[string]int {
	e.t.Helper()
	rows, err := e.r.Query(`SELECT state, count(*) FROM blast_deliveries GROUP BY state`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			e.t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// later moves the clock past the scanner window, so a click counts as a
// person's.
func (e *blastEnv) later() { e.clock.Add(time.Minute) }
