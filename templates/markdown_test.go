package templates

import (
	"html"
	"regexp"
	"strings"
	"testing"
)

// FuzzMarkdown runs its seeds (testdata/fuzz/FuzzMarkdown/) with every
// `go test`; .ci/run also explores it for a few seconds.

var (
	htmlTag   = regexp.MustCompile(`<\s*/?\s*([A-Za-z][^\s/>]*)([^>]*)>`)
	htmlAttr  = regexp.MustCompile(`([^\s="'/]+)\s*=\s*"([^"]*)"`)
	urlAttrs  = map[string]bool{"href": true, "src": true, "action": true, "formaction": true, "srcset": true, "cite": true, "background": true, "poster": true}
	badTags   = map[string]bool{"script": true, "iframe": true, "object": true, "embed": true, "style": true, "base": true, "form": true, "meta": true, "link": true, "svg": true, "math": true, "frame": true, "frameset": true}
	urlSchema = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*):`)
)

// FuzzMarkdown: whatever Markdown an organiser writes, the rendered
// body runs no script: no <script> or other active element, no on…
// event attribute, and every link or image address is relative or http,
// https or mailto — never javascript:, vbscript: or data:.
func FuzzMarkdown(f *testing.F) {
	f.Fuzz(func(t *testing.T, md string) {
		out := string(Markdown(md))
		if strings.Contains(strings.ToLower(out), "<script") {
			t.Fatalf("Markdown %q renders a script:\n%s", md, out)
		}
		for _, tag := range htmlTag.FindAllStringSubmatch(out, -1) {
			name := strings.ToLower(tag[1])
			if badTags[name] {
				t.Errorf("Markdown %q renders <%s>:\n%s", md, name, out)
			}
			// What is left of the tag once its quoted attributes are taken
			// out must be nothing: an unquoted attribute could hide anything.
			if rest := strings.Trim(htmlAttr.ReplaceAllString(tag[2], ""), " \t\n/"); rest != "" {
				t.Errorf("Markdown %q renders a tag with an unquoted attribute %q:\n%s", md, rest, out)
			}
			for _, a := range htmlAttr.FindAllStringSubmatch(tag[2], -1) {
				key := strings.ToLower(a[1])
				if strings.HasPrefix(key, "on") || key == "style" || key == "formaction" {
					t.Errorf("Markdown %q renders the attribute %s:\n%s", md, key, out)
				}
				if !urlAttrs[key] {
					continue
				}
				// As a browser reads it: entities decoded, then tabs,
				// newlines and leading controls and spaces dropped.
				v := strings.Map(func(r rune) rune {
					if r == '\t' || r == '\n' || r == '\r' {
						return -1
					}
					return r
				}, html.UnescapeString(a[2]))
				v = strings.TrimLeft(v, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
				if m := urlSchema.FindStringSubmatch(v); m != nil {
					switch strings.ToLower(m[1]) {
					case "http", "https", "mailto":
					default:
						t.Errorf("Markdown %q renders %s=%q, a %s: address:\n%s", md, key, a[2], m[1], out)
					}
				}
			}
		}
	})
}
