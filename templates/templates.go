// Package templates renders Rally's pages and emails from embedded
// html/template and text/template files, in English and French.
//
// Layout of the folder:
//
//	layout/*.html          the page skeleton ("base"), parsed into every page
//	partials/*.html        blocks shared by every page
//	FEATURE/_*.html        blocks shared by one feature's pages
//	FEATURE/NAME.html      a page; it defines "content" (and may define "head")
//	mail/layout.{html,txt} the email skeleton
//	mail/NAME.{html,txt}   an email; the .txt defines "subject" and "body", the .html "body"
//	locales/FEATURE.LANG.toml  the catalogues
//
// A page is named "FEATURE/NAME.html"; an email "NAME".
package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/static"
)

//go:embed layout errors mail locales all:partials all:campaigns all:notify all:donations
var files embed.FS

// Viewer is the organiser signed in on this request, shown in the header.
type Viewer struct {
	Name  string
	Admin bool
}

const viewerKey = "rally.viewer"

// SetViewer records the signed-in organiser for the page header.
func SetViewer(c *gin.Context, v Viewer) { c.Set(viewerKey, v) }

// Meta holds a page's Open Graph and Twitter card tags.
type Meta struct {
	Title       string
	Description string
	Image       string // absolute URL
	URL         string // canonical absolute URL
	// ImageWidth and ImageHeight are the image's size in pixels, and
	// ImageAlt says what it shows; zero and empty when not known.
	ImageWidth, ImageHeight int
	ImageAlt                string
}

// Page is what every page template receives. Data is the page's own typed
// struct; templates reach it as .Data and translate with {{$.T "Id"}}.
type Page struct {
	Lang        string
	Title       string
	Description string
	Meta        *Meta
	NoIndex     bool
	Viewer      *Viewer
	// Path is the request path, still percent-encoded, and query without
	// lang, for the language switch; always a path on this site.
	Path string
	// Wide drops the reading-width limit for tables (organiser pages).
	Wide bool
	// Flash is the id of a one-time notice to show at the top ("Saved"),
	// from the request's flash cookie (see SetFlash).
	Flash string
	Data  any

	cat *Catalogue
	now time.Time
}

// T translates id into the page's language; args are name/value pairs.
func (p *Page) T(id string, args ...any) string { return p.cat.T(p.Lang, id, args...) }

// Num formats an integer in the page's language.
func (p *Page) Num(n any) string { return p.cat.Number(p.Lang, n) }

// Date formats a day in the page's language.
func (p *Page) Date(t time.Time) string { return p.cat.Date(p.Lang, t) }

// Ago says how long ago t was, in the page's language.
func (p *Page) Ago(t time.Time) string { return p.cat.Ago(p.Lang, t, p.now) }

// LangURL returns the current page's URL in another language.
func (p *Page) LangURL(lang string) string {
	sep := "?"
	if strings.Contains(p.Path, "?") {
		sep = "&"
	}
	return p.Path + sep + "lang=" + lang
}

// Renderer holds the parsed page and mail templates and the catalogue.
type Renderer struct {
	Catalogue *Catalogue
	pages     map[string]*htmltemplate.Template
	parts     map[string]*htmltemplate.Template // a folder's partials, for RenderPart
	mailHTML  map[string]*htmltemplate.Template
	mailText  map[string]*texttemplate.Template
	// Now is the clock used for "how long ago"; tests may replace it.
	Now func() time.Time
	// BaseURL, when set, is the site's address, for the link every mail
	// ends with to what the site keeps about its reader (/privacy).
	BaseURL string
}

// New parses every embedded template and catalogue.
func New() (*Renderer, error) { return NewFS(files) }

// NewFS parses templates from fsys, laid out as described in the package doc.
func NewFS(fsys fs.FS) (*Renderer, error) {
	cat, err := newCatalogue(fsys)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	r := &Renderer{Catalogue: cat, pages: map[string]*htmltemplate.Template{}, parts: map[string]*htmltemplate.Template{},
		mailHTML: map[string]*htmltemplate.Template{}, mailText: map[string]*texttemplate.Template{},
		Now: func() time.Time { return time.Now().UTC() }}
	if err := r.parsePages(fsys); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if err := r.parseMails(fsys); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return r, nil
}

func funcs() htmltemplate.FuncMap {
	return htmltemplate.FuncMap{
		"asset": static.URL,
		"percent": func(n, of int64) int64 {
			if of <= 0 {
				return 0
			}
			p := n * 100 / of
			if p > 100 {
				p = 100
			}
			return p
		},
		"add":    func(a, b int) int { return a + b },
		"ticked": Ticked,
		// dict builds a map for passing several values to a sub-template:
		// {{template "button" dict "URL" $u "Label" ($.T "Confirm")}}.
		"dict": func(kv ...any) map[string]any {
			m := make(map[string]any, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
	}
}

// parsePages parses each page with the layout and the partials it uses:
// those of partials/ and of its own folder's _*.html files whose
// templates it calls, directly or through another partial. Parsing every
// partial into every page would keep a copy of each in each page (a
// page's templates are escaped, so their trees are its own): megabytes of
// live heap the collector would scan for nothing.
func (r *Renderer) parsePages(fsys fs.FS) error {
	layout, err := fs.Glob(fsys, "layout/*.html")
	if err != nil {
		return err
	}
	shared, err := fs.Glob(fsys, "partials/*.html")
	if err != nil {
		return err
	}
	for _, dir := range []string{"campaigns", "notify", "donations", "errors"} {
		own, err := fs.Glob(fsys, dir+"/_*.html")
		if err != nil {
			return err
		}
		partials := append(append([]string{}, shared...), own...)
		parts, err := readPartials(fsys, partials)
		if err != nil {
			return err
		}
		if len(partials) > 0 {
			if r.parts[dir], err = htmltemplate.New(dir).Funcs(funcs()).ParseFS(fsys, partials...); err != nil {
				return fmt.Errorf("parse %s partials: %w", dir, err)
			}
		}
		all, err := fs.Glob(fsys, dir+"/*.html")
		if err != nil {
			return err
		}
		for _, name := range all {
			if strings.HasPrefix(path.Base(name), "_") {
				continue
			}
			used, err := parts.usedBy(fsys, append(append([]string{}, layout...), name))
			if err != nil {
				return err
			}
			set := append(append(append([]string{}, layout...), used...), name)
			t, err := htmltemplate.New(name).Funcs(funcs()).ParseFS(fsys, set...)
			if err != nil {
				return fmt.Errorf("parse %s: %w", name, err)
			}
			r.pages[name] = t
		}
	}
	return nil
}

func (r *Renderer) parseMails(fsys fs.FS) error {
	htmls, err := fs.Glob(fsys, "mail/*.html")
	if err != nil {
		return err
	}
	for _, name := range htmls {
		base := strings.TrimSuffix(path.Base(name), ".html")
		if base == "layout" {
			continue
		}
		h, err := htmltemplate.New(base).Funcs(funcs()).ParseFS(fsys, "mail/layout.html", name)
		if err != nil {
			return fmt.Errorf("parse %s: %w", name, err)
		}
		t, err := texttemplate.New(base).Funcs(texttemplate.FuncMap(funcs())).ParseFS(fsys, "mail/layout.txt", "mail/"+base+".txt")
		if err != nil {
			return fmt.Errorf("parse mail %s text part: %w", base, err)
		}
		r.mailHTML[base], r.mailText[base] = h, t
	}
	return nil
}

// partialFiles knows which partial file defines each template name, and
// which names each file calls.
type partialFiles struct {
	defines map[string]string   // template name → file
	calls   map[string][]string // file → template names it calls
}

var (
	defineRE = regexp.MustCompile(`\{\{-?\s*(?:define|block)\s+"([^"]+)"`)
	callRE   = regexp.MustCompile(`\{\{-?\s*(?:template|block)\s+"([^"]+)"`)
)

func readPartials(fsys fs.FS, files []string) (*partialFiles, error) {
	p := &partialFiles{defines: map[string]string{}, calls: map[string][]string{}}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		for _, m := range defineRE.FindAllSubmatch(b, -1) {
			p.defines[string(m[1])] = f
		}
		p.calls[f] = calledNames(b)
	}
	return p, nil
}

func calledNames(b []byte) []string {
	var out []string
	for _, m := range callRE.FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// usedBy returns the partial files that the files call templates of,
// directly or through one another, in a stable order.
func (p *partialFiles) usedBy(fsys fs.FS, files []string) ([]string, error) {
	var names []string
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		names = append(names, calledNames(b)...)
	}
	seen := map[string]bool{}
	for len(names) > 0 {
		n := names[len(names)-1]
		names = names[:len(names)-1]
		f, ok := p.defines[n]
		if !ok || seen[f] {
			continue
		}
		seen[f] = true
		names = append(names, p.calls[f]...)
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	sort.Strings(out)
	return out, nil
}

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Render executes the page template name into w.
func (r *Renderer) Render(w io.Writer, name string, p *Page) error {
	t, ok := r.pages[name]
	if !ok {
		return fmt.Errorf("templates: no page %q", name)
	}
	if p.cat == nil {
		p.cat = r.Catalogue
	}
	if p.now.IsZero() {
		p.now = r.Now()
	}
	return t.ExecuteTemplate(w, "base", p)
}

// RenderPart executes one named partial of page's folder (such as
// "donate-form") into w, escaped as at the top of a page's body.
func (r *Renderer) RenderPart(w io.Writer, page, part string, data any) error {
	if _, ok := r.pages[page]; !ok {
		return fmt.Errorf("templates: no page %q", page)
	}
	t, ok := r.parts[path.Dir(page)]
	if !ok {
		return fmt.Errorf("templates: no partials beside %q", page)
	}
	return t.ExecuteTemplate(w, part, data)
}

// HTML renders the page template name for the request with the given status.
// It fills in the language, the signed-in viewer and the current path.
func (r *Renderer) HTML(c *gin.Context, status int, name string, p *Page) {
	r.FillPage(c, p)
	buf := bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufs.Put(buf)
	if err := r.Render(buf, name, p); err != nil {
		slog.Error("render page", slog.String("page", name), slog.Any("error", err))
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// FillPage sets the parts of p that come from the request.
func (r *Renderer) FillPage(c *gin.Context, p *Page) {
	p.Lang = LangOf(c)
	p.cat = r.Catalogue
	p.now = r.Now()
	if v, ok := c.Get(viewerKey); ok {
		vv := v.(Viewer)
		p.Viewer = &vv
	}
	p.Flash = takeFlash(c, r.Catalogue, p.Lang)
	p.Path = sameSitePath(c.Request.URL.EscapedPath())
	if c.Request.URL.RawQuery == "" {
		return
	}
	q := c.Request.URL.Query()
	q.Del("lang")
	if enc := q.Encode(); enc != "" {
		p.Path += "?" + enc
	}
}

// sameSitePath returns path, a request's escaped path, when a link to it
// stays on this site, else "/". Kept escaped, /%2F%2Fevil.example stays a
// path; decoded, it would be //evil.example, a link to another host, and a
// browser reads /\evil.example the same way.
func sameSitePath(path string) string {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.HasPrefix(path, "/\\") {
		return "/"
	}
	return path
}

// Mail is a rendered email.
type Mail struct {
	Subject string
	Text    string
	HTML    string
}

// MailData is what every email template receives.
type MailData struct {
	Lang string
	Data any
	// Base is the site's address (Renderer.BaseURL), or empty.
	Base string
	cat  *Catalogue
}

// T translates id into the mail's language.
func (m MailData) T(id string, args ...any) string { return m.cat.T(m.Lang, id, args...) }

// Num formats an integer in the mail's language.
func (m MailData) Num(n any) string { return m.cat.Number(m.Lang, n) }

// Mail renders the email name in lang. Its text template defines the subject.
func (r *Renderer) Mail(lang, name string, data any) (Mail, error) {
	h, ok := r.mailHTML[name]
	if !ok {
		return Mail{}, fmt.Errorf("templates: no mail %q", name)
	}
	md := MailData{Lang: lang, Data: data, Base: r.BaseURL, cat: r.Catalogue}
	var subj, text, html bytes.Buffer
	if err := r.mailText[name].ExecuteTemplate(&subj, "subject", md); err != nil {
		return Mail{}, fmt.Errorf("render mail %s subject: %w", name, err)
	}
	if err := r.mailText[name].ExecuteTemplate(&text, "layout", md); err != nil {
		return Mail{}, fmt.Errorf("render mail %s text: %w", name, err)
	}
	if err := h.ExecuteTemplate(&html, "layout", md); err != nil {
		return Mail{}, fmt.Errorf("render mail %s html: %w", name, err)
	}
	return Mail{Subject: strings.TrimSpace(subj.String()), Text: text.String(), HTML: html.String()}, nil
}
