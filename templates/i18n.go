package templates

import (
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/pelletier/go-toml/v2"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Languages Rally speaks, the first being the default.
var Languages = []string{"en", "fr"}

var (
	tags    = []language.Tag{language.English, language.French}
	matcher = language.NewMatcher(tags)
)

// LangCookie is the cookie that remembers the language a visitor picked.
const LangCookie = "lang"

const langKey = "rally.lang"

// Catalogue holds every translated message, loaded from locales/*.toml. Files
// are named FEATURE.LANG.toml; message IDs are CamelCase and unique across
// files.
type Catalogue struct {
	bundle     *i18n.Bundle
	localizers map[string]*i18n.Localizer
	printers   map[string]*message.Printer
	// cache memoises messages without arguments, the common case, so a page
	// render does not run go-i18n's template machinery for every label.
	cache sync.Map
}

func newCatalogue(fsys fs.FS) (*Catalogue, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	names, err := fs.Glob(fsys, "locales/*.toml")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		if _, err := b.ParseMessageFileBytes(data, path.Base(name)); err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
	}
	c := &Catalogue{bundle: b, localizers: map[string]*i18n.Localizer{}, printers: map[string]*message.Printer{}}
	for i, l := range Languages {
		c.localizers[l] = i18n.NewLocalizer(b, l)
		c.printers[l] = message.NewPrinter(tags[i])
	}
	return c, nil
}

// T translates the message id into lang. args are name/value pairs passed to
// the message template; a "Count" argument also selects the plural form. A
// missing message shows its id, so a gap is visible rather than blank.
func (c *Catalogue) T(lang, id string, args ...any) string {
	loc, ok := c.localizers[lang]
	if !ok {
		loc = c.localizers[Languages[0]]
	}
	if len(args) == 0 {
		key := lang + "\x00" + id
		if s, ok := c.cache.Load(key); ok {
			return s.(string)
		}
		s, err := loc.Localize(&i18n.LocalizeConfig{MessageID: id})
		if err != nil {
			return id
		}
		c.cache.Store(key, s)
		return s
	}
	data := make(map[string]any, len(args)/2)
	var count any
	for i := 0; i+1 < len(args); i += 2 {
		k := fmt.Sprint(args[i])
		data[k] = args[i+1]
		if k == "Count" {
			count = args[i+1]
			data[k] = c.Number(lang, args[i+1])
		}
	}
	s, err := loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil {
		return id
	}
	return s
}

// Number formats an integer the way lang writes it: 1,284 or 1 284.
func (c *Catalogue) Number(lang string, n any) string {
	p, ok := c.printers[lang]
	if !ok {
		p = c.printers[Languages[0]]
	}
	return p.Sprint(n)
}

// Date formats t as a day in lang ("25 November 2026", "25 novembre 2026").
func (c *Catalogue) Date(lang string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	month := c.T(lang, "Month"+t.Format("01"))
	if lang == "en" {
		return fmt.Sprintf("%d %s %d", t.Day(), month, t.Year())
	}
	return fmt.Sprintf("%d %s %d", t.Day(), strings.ToLower(month), t.Year())
}

// Ago says how long ago t was, relative to now, in lang.
func (c *Catalogue) Ago(lang string, t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return c.T(lang, "AgoJustNow")
	case d < time.Hour:
		return c.T(lang, "AgoMinutes", "Count", int(d/time.Minute))
	case d < 24*time.Hour:
		return c.T(lang, "AgoHours", "Count", int(d/time.Hour))
	default:
		return c.T(lang, "AgoDays", "Count", int(d/(24*time.Hour)))
	}
}

// MatchLang picks a supported language from an explicit choice, a cookie
// value and an Accept-Language header, in that order.
func MatchLang(query, cookie, acceptLanguage string) string {
	for _, v := range []string{query, cookie} {
		if v = strings.ToLower(strings.TrimSpace(v)); supported(v) {
			return v
		}
	}
	if acceptLanguage != "" {
		prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
		if err == nil && len(prefs) > 0 {
			_, i, conf := matcher.Match(prefs...)
			if conf != language.No {
				return Languages[i]
			}
		}
	}
	return Languages[0]
}

func supported(l string) bool {
	for _, s := range Languages {
		if s == l {
			return true
		}
	}
	return false
}

// LanguageMiddleware decides the request's language (?lang=, the cookie, then
// Accept-Language) and remembers an explicit ?lang= choice in a cookie.
func LanguageMiddleware(secure bool) gin.HandlerFunc {
	// The Content-Language values, shared: headers are replaced, never
	// written into.
	values := map[string][]string{}
	for _, l := range Languages {
		values[l] = []string{l}
	}
	return func(c *gin.Context) {
		q := ""
		if c.Request.URL.RawQuery != "" {
			q = c.Query("lang")
		}
		cookie, _ := c.Cookie(LangCookie)
		lang := MatchLang(q, cookie, c.GetHeader("Accept-Language"))
		if q != "" && q == lang && cookie != lang {
			http.SetCookie(c.Writer, &http.Cookie{Name: LangCookie, Value: lang, Path: "/",
				MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
		}
		c.Set(langKey, lang)
		c.Set(secureKey, secure)
		c.Writer.Header()["Content-Language"] = values[lang]
		c.Next()
	}
}

// LangOf returns the language LanguageMiddleware chose for the request.
func LangOf(c *gin.Context) string {
	if l := c.GetString(langKey); l != "" {
		return l
	}
	return Languages[0]
}
