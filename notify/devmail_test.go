package notify

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

func TestDevOutboxWritesParsableEML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	d, err := NewDevOutbox(dir, "Rally <rally@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	written := time.Date(2026, 11, 25, 10, 30, 0, 123456789, time.UTC)
	d.Now = func() time.Time { return written }
	m := Message{ID: 42, MessageID: "42.abc@rally.example", To: "elodie@example.fr", ToName: "Élodie", Lang: "fr",
		Subject: "Confirmez votre signature : « Forêt »", Text: "Confirmez ici : https://rally.example/confirm/xyz\n",
		HTML: `<p>Confirmez <a href="https://rally.example/confirm/xyz">ici</a></p>`}
	if errs := d.Send(context.Background(), []Message{m}); errs[0] != nil {
		t.Fatal(errs[0])
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d files in the outbox, want 1 (no temporary file left)", len(entries))
	}
	name := entries[0].Name()
	if want := "20261125T103000.123456789Z-42.eml"; name != want {
		t.Errorf("file name %s, want %s", name, want)
	}
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	dec := mime.WordDecoder{}
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if subject != m.Subject {
		t.Errorf("Subject = %q, want %q", subject, m.Subject)
	}
	if id := msg.Header.Get("Message-Id"); id != "<42.abc@rally.example>" {
		t.Errorf("Message-ID = %q", id)
	}
	if to, err := mail.ParseAddress(msg.Header.Get("To")); err != nil || to.Address != m.To || to.Name != "Élodie" {
		t.Errorf("To = %q (%v)", msg.Header.Get("To"), err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, %v", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	if parts["text/plain"] != m.Text || strings.TrimSpace(parts["text/html"]) != m.HTML {
		t.Errorf("parts = %q, want the text and the HTML", parts)
	}
}

// testRenderer parses the real page templates of the layout and this
// package, leaving out other features' pages.
func testRenderer(t *testing.T) *templates.Renderer {
	t.Helper()
	src := os.DirFS("../templates")
	keep := func(p string) bool {
		switch path.Dir(p) {
		case "layout", "partials", "errors", "notify":
			return true
		case "mail":
			return strings.HasPrefix(path.Base(p), "layout.")
		case "locales":
			return strings.HasPrefix(path.Base(p), "common.") || strings.HasPrefix(path.Base(p), "notify.")
		}
		return false
	}
	mfs := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !keep(p) {
			return err
		}
		b, err := fs.ReadFile(src, p)
		mfs[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := templates.NewFS(mfs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func devMailEngine(t *testing.T, dir string, allow gin.HandlerFunc) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.Use(templates.LanguageMiddleware(false))
	DevMailRoutes(e, testRenderer(t), dir, allow)
	return e
}

func get(e http.Handler, target, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestDevMailListsAndShowsMessages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	d, err := NewDevOutbox(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { return first }
	older := testMessage("old@example.org")
	older.ID, older.Subject = 1, "Older mail"
	if errs := d.Send(context.Background(), []Message{older}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	d.Now = func() time.Time { return first.Add(time.Minute) }
	m := Message{ID: 2, To: "ada@example.org", ToName: "Ada Lovelace", Subject: "Confirm <your> signature & share",
		Text:    "Hello <Ada>,\nconfirm: https://rally.example/confirm/tok?x=1&y=2.\n",
		HTML:    `<!doctype html><html><head><title>x</title></head><body><a href="https://rally.example/confirm/tok">Confirm</a><script>alert(1)</script></body></html>`,
		Headers: map[string]string{"List-Unsubscribe": "<https://rally.example/u/abc>"}}
	if errs := d.Send(context.Background(), []Message{m}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	newest := "20261125T090100.000000000Z-2.eml"
	e := devMailEngine(t, dir, nil)

	t.Run("list, newest first", func(t *testing.T) {
		rec := get(e, "/dev/mail", "127.0.0.1:5000")
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		body := rec.Body.String()
		i, j := strings.Index(body, "/dev/mail/"+newest), strings.Index(body, "Older mail")
		if i < 0 || j < 0 || i > j {
			t.Errorf("list does not link the newest message first:\n%s", body)
		}
		if !containsAll(body, "Ada Lovelace &lt;ada@example.org&gt;", "Confirm &lt;your&gt; signature &amp; share", "2 emails") {
			t.Errorf("list lacks the recipient, escaped subject or count:\n%s", body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
		}
	})

	t.Run("list in French", func(t *testing.T) {
		rec := get(e, "/dev/mail?lang=fr", "127.0.0.1:5000")
		if rec.Code != http.StatusOK || !containsAll(rec.Body.String(), "Courriels de développement", "2 courriels") {
			t.Errorf("status %d, French list:\n%s", rec.Code, rec.Body.String())
		}
	})

	t.Run("show", func(t *testing.T) {
		rec := get(e, "/dev/mail/"+newest, "[::1]:5000")
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		body := rec.Body.String()
		wants := []string{
			"Confirm &lt;your&gt; signature &amp; share", "ada@example.org", "List-Unsubscribe",
			`src="/dev/mail/` + newest + `/html"`, `sandbox="allow-popups allow-popups-to-escape-sandbox"`,
			"Hello &lt;Ada&gt;,",
			`<a href="https://rally.example/confirm/tok?x=1&amp;y=2" target="_blank" rel="noopener noreferrer">https://rally.example/confirm/tok?x=1&amp;y=2</a>.`,
		}
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("show page lacks %q", w)
			}
		}
		if strings.Contains(body, "<script>alert") {
			t.Error("the mail's HTML is inlined into the page")
		}
	})

	t.Run("HTML part is sandboxed and links open in a new tab", func(t *testing.T) {
		rec := get(e, "/dev/mail/"+newest+"/html", "127.0.0.1:5000")
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.HasPrefix(csp, "sandbox allow-popups allow-popups-to-escape-sandbox;") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP = %q, want a sandbox without scripts", csp)
		}
		if body := rec.Body.String(); !strings.Contains(body, `<head><base target="_blank"><title>`) ||
			!strings.Contains(body, `href="https://rally.example/confirm/tok"`) {
			t.Errorf("HTML part:\n%s", body)
		}
	})

	t.Run("raw source", func(t *testing.T) {
		rec := get(e, "/dev/mail/"+newest+"/raw", "127.0.0.1:5000")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") ||
			!strings.Contains(rec.Body.String(), "Message-ID:") {
			t.Errorf("status %d, type %s", rec.Code, rec.Header().Get("Content-Type"))
		}
	})

	notFound := []string{
		"/dev/mail/..%2f..%2fetc%2fpasswd",
		"/dev/mail/..%2f..%2fetc%2fpasswd/html",
		"/dev/mail/..%2f..%2fetc%2fpasswd/raw",
		"/dev/mail/../../etc/passwd",
		"/dev/mail/passwd",
		"/dev/mail/20261125T090100.000000000Z-3.eml",
		"/dev/mail/20261125T090100.000000000Z-2.eml%00",
	}
	for _, target := range notFound {
		t.Run("404 "+target, func(t *testing.T) {
			if rec := get(e, target, "127.0.0.1:5000"); rec.Code != http.StatusNotFound {
				t.Errorf("status %d, want 404", rec.Code)
			}
		})
	}
}

func TestDevMailAccess(t *testing.T) {
	dir := t.TempDir()
	isAdmin := func(c *gin.Context) bool { return c.GetHeader("X-Test-Admin") == "yes" }
	e := devMailEngine(t, dir, DevMailAccess(isAdmin))
	tests := []struct {
		name   string
		remote string
		header map[string]string
		want   int
	}{
		{"IPv4 loopback", "127.0.0.1:40000", nil, http.StatusOK},
		{"IPv6 loopback", "[::1]:40000", nil, http.StatusOK},
		{"remote visitor", "203.0.113.9:40000", nil, http.StatusNotFound},
		{"remote visitor claiming loopback", "203.0.113.9:40000",
			map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}, http.StatusNotFound},
		// A proxy on this machine connects from loopback and names the
		// client: the request was not made here.
		{"loopback proxy naming a client (X-Forwarded-For)", "127.0.0.1:40000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, http.StatusNotFound},
		{"loopback proxy naming a client (X-Real-IP)", "127.0.0.1:40000", map[string]string{"X-Real-IP": "203.0.113.9"}, http.StatusNotFound},
		{"loopback proxy naming a client (Forwarded)", "[::1]:40000", map[string]string{"Forwarded": "for=203.0.113.9"}, http.StatusNotFound},
		{"loopback proxy naming loopback", "127.0.0.1:40000", map[string]string{"X-Forwarded-For": "127.0.0.1"}, http.StatusNotFound},
		{"remote admin", "203.0.113.9:40000", map[string]string{"X-Test-Admin": "yes"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, target := range []string{"/dev/mail", "/dev/mail/20261125T090100.000000000Z-2.eml"} {
				req := httptest.NewRequest(http.MethodGet, target, nil)
				req.RemoteAddr = tt.remote
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				want := tt.want
				if want == http.StatusOK && target != "/dev/mail" {
					want = http.StatusNotFound // admitted, but no such message
				}
				if rec.Code != want {
					t.Errorf("GET %s: status %d, want %d", target, rec.Code, want)
				}
			}
		})
	}
}

func TestLinkify(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no links <b>", "no links &lt;b&gt;"},
		{"see https://a.example/x.", `see <a href="https://a.example/x" target="_blank" rel="noopener noreferrer">https://a.example/x</a>.`},
		{`"javascript:alert(1)" http://b.example/"onmouseover=x`, `&#34;javascript:alert(1)&#34; <a href="http://b.example/" target="_blank" rel="noopener noreferrer">http://b.example/</a>&#34;onmouseover=x`},
		{"(https://c.example/p?a=1&b=2)", `(<a href="https://c.example/p?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">https://c.example/p?a=1&amp;b=2</a>)`},
	}
	for _, tt := range tests {
		if got := string(linkify(tt.in)); got != tt.want {
			t.Errorf("linkify(%q) =\n %s\nwant\n %s", tt.in, got, tt.want)
		}
	}
}
