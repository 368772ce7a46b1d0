package campaigns

import (
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
// and at each count. People on the same count share one rendering.
func TestStampedThanksIsTheRenderedPage(t *testing.T) {
	h, cz := newStampHandler(t)
	engine := func(stamped bool) *gin.Engine {
		e := langEngine()
		e.POST("/confirm/:token", func(c *gin.Context) {
			cause := cz
			cause.SignatureCount = int64(len(c.PostForm("count")))
			res := Confirmation{Name: c.PostForm("name"), Email: "ada@example.org", AlreadyConfirmed: c.PostForm("again") == "1"}
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
					form := url.Values{"name": {name}, "again": {again}, "count": {count}}
					want, got := post(full, token, lang, form), post(stamped, token, lang, form)
					if got != want {
						t.Fatalf("%s, again %q, count %d, name %q: the stamped page differs from the rendered one:\n%s",
							lang, again, len(count), name, firstDiff(want, got))
					}
					if i == 0 && !strings.Contains(got, token) {
						t.Errorf("the page does not carry the person's token")
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
