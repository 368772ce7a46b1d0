package templates

import (
	"io/fs"
	"net/http/httptest"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/pelletier/go-toml/v2"
)

func TestMatchLang(t *testing.T) {
	tests := []struct{ query, cookie, accept, want string }{
		{"", "", "", "en"},
		{"fr", "", "en-GB,en;q=0.9", "fr"},
		{"", "fr", "en", "fr"},
		{"de", "", "fr-CA,fr;q=0.9,en;q=0.5", "fr"},
		{"", "", "de-DE,de;q=0.9", "en"},
		{"", "", "fr-BE", "fr"},
		{"", "xx", "garbage;;;", "en"},
	}
	for _, tt := range tests {
		if got := MatchLang(tt.query, tt.cookie, tt.accept); got != tt.want {
			t.Errorf("MatchLang(%q, %q, %q) = %q, want %q", tt.query, tt.cookie, tt.accept, got, tt.want)
		}
	}
}

// Every message exists in both languages, so no page or mail shows a raw id
// or falls back to English in French.
func TestCataloguesHaveTheSameMessages(t *testing.T) {
	names, err := fs.Glob(files, "locales/*.en.toml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no English catalogues: %v", err)
	}
	for _, en := range names {
		fr := strings.TrimSuffix(en, ".en.toml") + ".fr.toml"
		enKeys, frKeys := catalogueKeys(t, en), catalogueKeys(t, fr)
		if missing := difference(enKeys, frKeys); len(missing) > 0 {
			t.Errorf("%s lacks %v", path.Base(fr), missing)
		}
		if extra := difference(frKeys, enKeys); len(extra) > 0 {
			t.Errorf("%s lacks %v", path.Base(en), extra)
		}
	}
}

func catalogueKeys(t *testing.T, name string) map[string]bool {
	t.Helper()
	b, err := fs.ReadFile(files, name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	return keys
}

func difference(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestTranslateAndPlurals(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	c := r.Catalogue
	if got := c.T("fr", "AgoDays", "Count", 1); got != "il y a 1 jour" {
		t.Errorf("French singular = %q", got)
	}
	if got := c.T("en", "AgoDays", "Count", 1284); got != "1,284 days ago" {
		t.Errorf("English plural with grouping = %q", got)
	}
	if got := c.T("fr", "AgoDays", "Count", 1284); !strings.HasPrefix(got, "il y a 1") || !strings.HasSuffix(got, "284 jours") {
		t.Errorf("French plural with grouping = %q", got)
	}
	if got := c.T("en", "NoSuchMessage"); got != "NoSuchMessage" {
		t.Errorf("a missing message shows %q, want its id", got)
	}
}

// TestFillPageKeepsThePathOnSite: the language switch links to the path
// asked for, still percent-encoded, and never to another host.
func TestFillPageKeepsThePathOnSite(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ target, wantFR string }{
		{"/c/for%C3%AAt?ref=abc&lang=en", "/c/for%C3%AAt?ref=abc&lang=fr"},
		{"/privacy", "/privacy?lang=fr"},
		{"/%2Fevil.example", "/%2Fevil.example?lang=fr"},
		{"/%2F%2Fevil.example?q=1", "/%2F%2Fevil.example?q=1&lang=fr"},
		{"/%5Cevil.example", "/%5Cevil.example?lang=fr"},
		{"//evil.example", "/?lang=fr"},
		{"/\\evil.example", "/%5Cevil.example?lang=fr"},
	}
	for _, tt := range tests {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("GET", tt.target, nil)
		var p Page
		r.FillPage(c, &p)
		if got := p.LangURL("fr"); got != tt.wantFR {
			t.Errorf("GET %s: French link %q, want %q", tt.target, got, tt.wantFR)
		}
	}
	for _, path := range []string{"//evil.example", "/\\evil.example", "evil.example", ""} {
		if got := sameSitePath(path); got != "/" {
			t.Errorf("sameSitePath(%q) = %q, want /", path, got)
		}
	}
}
