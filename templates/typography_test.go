package templates

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
)

var (
	actions  = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	htmlTags = regexp.MustCompile(`<[^>]*>`)
	links    = regexp.MustCompile(`https?://\S+|mailto:\S+`)
)

// frenchSpacing lists the places in s where one of : ; ! ? ends a word
// without the non-breaking space French typography wants before it, so the
// sign never starts a line of its own: U+00A0 before a colon, the narrow
// U+202F before ; ! and ? (the catalogues' convention, so one mail does
// not mix the two).
// Template actions and links are left out; a sign followed by a letter or
// digit (16:9, a URL's ?) is not punctuation.
func frenchSpacing(s string) []string {
	s = links.ReplaceAllString(actions.ReplaceAllString(s, "X"), "L")
	var bad []string
	for i, r := range s {
		if !strings.ContainsRune(":;!?", r) {
			continue
		}
		next, _ := utf8.DecodeRuneInString(s[i+1:])
		if next != utf8.RuneError && next != ' ' && next != '\n' && next != '\u00a0' && next != '\u202f' && !strings.ContainsRune("»\")”.", next) {
			continue
		}
		prev, _ := utf8.DecodeLastRuneInString(s[:i])
		want := '\u202f'
		if r == ':' {
			want = '\u00a0'
		}
		if prev == want || strings.ContainsRune("!?", prev) {
			continue
		}
		bad = append(bad, fmt.Sprintf("%q (want %U before %c)", s[max(0, i-20):min(len(s), i+3)], want, r))
	}
	return bad
}

func TestFrenchSpacingRule(t *testing.T) {
	for s, ok := range map[string]bool{
		"Bonjour\u00a0:":             true,
		"Merci\u202f!":               true,
		"Vraiment\u202f?!":           true,
		"Vraiment\u00a0?":            false,
		"Bonjour :":                  false,
		"Date: {{.Data.Date}}":       false,
		"Images (16:9) et https://x": true,
		"{{.T \"A\"}}: {{.B}}":       false,
		"ratio 16:9":                 true,
		"Ça va ?":                    false,
	} {
		if got := len(frenchSpacing(s)) == 0; got != ok {
			t.Errorf("frenchSpacing(%q) passes = %v, want %v", s, got, ok)
		}
	}
}

// Every French message, and every piece of text the mail templates write
// themselves (their punctuation shows in French mails too), puts a
// non-breaking space before : ; ! and ?. A plain space lets the sign wrap
// to a line of its own; none at all is English typography.
func TestFrenchTypography(t *testing.T) {
	names, err := fs.Glob(files, "locales/*.fr.toml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no French catalogues: %v", err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := toml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for id, text := range messages(m) {
			for _, bad := range frenchSpacing(text) {
				t.Errorf("%s: %s: no non-breaking space before the sign in %s", path.Base(name), id, bad)
			}
		}
	}
	mails, err := fs.Glob(files, "mail/*")
	if err != nil || len(mails) == 0 {
		t.Fatalf("no mail templates: %v", err)
	}
	for _, name := range mails {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.HasSuffix(name, ".html") {
			text = htmlTags.ReplaceAllString(text, " ")
		}
		for _, bad := range frenchSpacing(text) {
			t.Errorf("%s writes punctuation of its own (put it in the catalogues): %s", path.Base(name), bad)
		}
	}
}

// messages flattens a catalogue: plain messages by id, plural forms as
// id.one, id.other.
func messages(m map[string]any) map[string]string {
	out := map[string]string{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			out[k] = v
		case map[string]any:
			for form, s := range messages(v) {
				out[k+"."+form] = s
			}
		}
	}
	return out
}
