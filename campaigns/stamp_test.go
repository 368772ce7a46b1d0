package campaigns

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// The thank-you page put together from h.stamps is, byte for byte, the
// page html/template renders for the same person: new or already counted,
// with a first name, none, or one that needs escaping, in each language
// and at each count, with their own share code. People on the same count share one rendering.
func TestStampedThanksIsTheRenderedPage(t *testing.T) {
	h, cz := newStampHandler(t)
	engine := func(stamped bool) *gin.Engine {
		e := langEngine()
		e.POST("/confirm/:token", func(c *gin.Context) {
			cause := cz
			cause.SignatureCount = int64(len(c.PostForm("count")))
			res := Confirmation{Name: c.PostForm("name"), Email: "ada@example.org", AlreadyConfirmed: c.PostForm("again") == "1",
				ShareCode: c.PostForm("code")}
			page, d, err := h.thanksData(c, cause, res)
			if err != nil {
				t.Fatal(err)
			}
			if !stamped {
				page.Data = d
				h.rdr.HTML(c, http.StatusOK, "campaigns/thanks.html", page)
				return
			}
			h.stampedThanks(c, page, d, c.Param("token"))
		})
		return e
	}
	full, stamped := engine(false), engine(true)
	post := func(e *gin.Engine, token, lang string, form url.Values) string {
		req := httptest.NewRequest(http.MethodPost, "/confirm/"+token+"?lang="+lang, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		if n := rec.Header().Get("Content-Length"); e == stamped && n != strconv.Itoa(rec.Body.Len()) {
			t.Errorf("Content-Length %s for %d bytes", n, rec.Body.Len())
		}
		return rec.Body.String()
	}
	for _, lang := range []string{"en", "fr"} {
		for _, again := range []string{"", "1"} {
			for _, count := range []string{"", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"} {
				for i, name := range []string{"Ada Lovelace", "", `<b>O'Brien</b> & "Co"`, "Émile"} {
					token, _, _ := NewSignatureToken()
					code := NewShareCode()
					form := url.Values{"name": {name}, "again": {again}, "count": {count}, "code": {code}}
					want, got := post(full, token, lang, form), post(stamped, token, lang, form)
					if got != want {
						t.Fatalf("%s, again %q, count %d, name %q: the stamped page differs from the rendered one:\n%s",
							lang, again, len(count), name, firstDiff(want, got))
					}
					if i == 0 && !strings.Contains(got, token) {
						t.Errorf("the page does not carry the person's token")
					}
					if !strings.Contains(got, "?ref="+code) {
						t.Errorf("the page does not carry the person's share code")
					}
				}
			}
		}
	}
	n := 0
	for k := range h.stamps.m {
		if k.page == "thanks" {
			n++
		}
	}
	if n != 2*2*2 { // languages × new or again × named or not
		t.Errorf("%d thank-you pages kept, want one per language and variant, at the latest count", n)
	}
}

// newStampHandler is a Handler on a test store with one published cause.
func newStampHandler(t *testing.T) (*Handler, Cause) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	s, _, cz := newTestStore(t)
	rdr, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	return NewHandler(s, rdr, HandlerConfig{BaseURL: "http://rally.test"}), cz
}

// langEngine is a Gin engine that chooses each request's language as
// Rally's does.
func langEngine() *gin.Engine {
	e := gin.New()
	e.Use(templates.LanguageMiddleware(false))
	return e
}

// firstDiff shows where two pages part.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return "rendered: …" + a[lo:min(len(a), i+80)] + "…\nstamped:  …" + b[lo:min(len(b), i+80)] + "…"
}

// The confirm button page put together from h.stamps is, byte for byte,
// the page html/template renders for the same link, in each language.
func TestStampedConfirmPageIsTheRenderedPage(t *testing.T) {
	h, cz := newStampHandler(t)
	engine := func(stamped bool) *gin.Engine {
		e := langEngine()
		e.GET("/confirm/:token", func(c *gin.Context) {
			token := c.Param("token")
			page := &templates.Page{Title: h.rdr.Catalogue.T(templates.LangOf(c), "ConfirmTitle"), NoIndex: true}
			h.rdr.FillPage(c, page)
			if stamped {
				h.stampedConfirmPage(c, page, cz, token)
				return
			}
			page.Data = confirmData{Token: token, Cause: cz}
			h.rdr.HTML(c, http.StatusOK, "campaigns/confirm.html", page)
		})
		return e
	}
	full, stamped := engine(false), engine(true)
	get := func(e *gin.Engine, path string) string {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		return rec.Body.String()
	}
	for _, lang := range []string{"en", "fr"} {
		for range 2 {
			token, _, _ := NewSignatureToken()
			path := "/confirm/" + token + "?lang=" + lang
			want, got := get(full, path), get(stamped, path)
			if got != want {
				t.Fatalf("%s: the stamped confirm page differs from the rendered one:\n%s", lang, firstDiff(want, got))
			}
			if !strings.Contains(got, `action="/confirm/`+token+`"`) {
				t.Errorf("the button does not post to the person's own link")
			}
		}
	}
}

// A stamped page's holes are where its two renderings differ, whatever
// else in it reads like a placeholder; a placeholder a template changed
// (cut short, say) is an error rather than a hole in the wrong place.
func TestCutFindsHolesWhereTheRenderingsDiffer(t *testing.T) {
	typed := "<h1>" + phEmail[0] + phName[1] + "</h1>"
	a := typed + `<p>` + phEmail[0] + `</p><a href="/confirm/` + phToken[0] + `">` + phEmail[1] + `</a>`
	b := typed + `<p>` + phEmail[1] + `</p><a href="/confirm/` + phToken[1] + `">` + phEmail[1] + `</a>`
	s, err := cut(a, b, phEmail, phToken)
	if err != nil {
		t.Fatal(err)
	}
	want := typed + `<p>ada@example.org</p><a href="/confirm/TOKEN">` + phEmail[1] + `</a>`
	if got := string(s.fill("ada@example.org", "TOKEN")); got != want {
		t.Errorf("filled:\n%s\nwant\n%s", got, want)
	}
	for _, c := range []struct{ name, a, b string }{
		{"cut short", "<p>" + phEmail[0][:5] + "</p>", "<p>" + phEmail[1][:5] + "</p>"},
		{"another length", "<p>" + phEmail[0] + "</p>", "<p>" + phEmail[1] + "!</p>"},
		{"not a placeholder", "<p>a</p>", "<p>b</p>"},
	} {
		if _, err := cut(c.a, c.b, phEmail, phToken); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// Each spelling of each placeholder comes out of html/template as it went
// in, in every context a page can put a value: text, attribute values,
// URLs (path and query), scripts and styles. So a value's hole is found
// wherever a template puts it.
func TestPlaceholdersSurviveEveryContext(t *testing.T) {
	contexts := map[string]string{
		"text":      `<p>{{.}}</p>`,
		"attribute": `<input value="{{.}}">`,
		"unquoted":  `<input value={{.}}>`,
		"URL path":  `<a href="/confirm/{{.}}">`,
		"URL query": `<a href="/c/x?ref={{.}}&amp;lang=fr">`,
		"URL":       `<a href="{{.}}">`,
		"script":    `<script>var v = "{{.}}";</script>`,
		"style":     `<p style="font-family: {{.}}">`,
	}
	for name, src := range contexts {
		tpl := template.Must(template.New(name).Parse(src))
		for _, ph := range placeholders {
			for _, spelling := range ph {
				var b strings.Builder
				if err := tpl.Execute(&b, spelling); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(b.String(), spelling) {
					t.Errorf("%s: %s came out as %s", name, spelling, b.String())
				}
			}
		}
	}
}

// The "check your email" page is kept once per cause version and
// language, whatever the signing address's query: a flood of signings
// with huge made-up queries (bots fill the honeypot) leaves the cache the
// size one signing made it, and the page does not carry the query.
func TestSignedPageCacheIgnoresTheQuery(t *testing.T) {
	env := newPagesEnv(t)
	c := env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor"})
	sign := func(i int) string {
		query := fmt.Sprintf("?n=%d&junk=%s", i, strings.Repeat("a", 40<<10))
		return env.post("/c/"+c.Slug+"/sign"+query, url.Values{"name": {"Bot"}, "email": {fmt.Sprintf("bot%d@example.org", i)},
			"country": {"FR"}, "website": {"http://spam.example"}})
	}
	page := sign(0)
	size := env.h.stamps.size()
	if size == 0 {
		t.Fatal("the page was not kept")
	}
	for i := 1; i <= 50; i++ {
		page = sign(i)
	}
	if got := env.h.stamps.size(); got > size {
		t.Errorf("50 signings with 40 KB queries took the cache from %d to %d bytes", size, got)
	}
	if strings.Contains(page, "aaaaaaaaaa") {
		t.Errorf("the page carries the query (%d bytes)", len(page))
	}
	if !strings.Contains(page, "bot50@example.org") {
		t.Errorf("the page lacks the signer's address")
	}
}

// The stamped pages' cache holds at most its bound in bytes, however many
// pages it is asked to keep.
func TestStampsBoundedInBytes(t *testing.T) {
	s := newStamps()
	s.maxBytes = 100 << 10
	page := stamped{parts: [][]byte{bytes.Repeat([]byte("x"), 10<<10)}}
	for i := range 100 {
		_, err := s.get(stampKey{page: "signed", cause: int64(i)}, [2]int64{}, func() (stamped, error) { return page, nil })
		if err != nil {
			t.Fatal(err)
		}
		if got := s.size(); got > s.maxBytes || got <= 0 {
			t.Fatalf("after %d pages of 10 KB the cache holds %d bytes; bound %d", i+1, got, s.maxBytes)
		}
	}
}
