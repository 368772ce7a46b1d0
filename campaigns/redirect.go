package campaigns

import (
	"net/url"
	"path"
	"strings"
)

// maxNextLen bounds the "next" path a login carries.
const maxNextLen = 2048

// localPath returns next as the same-site path a redirect to it sends the
// browser to, or "" when next is anything else.
//
// The check is made on the path as it will leave in the Location header, not
// on the text received: Gin's Redirect (net/http's) cleans the path first,
// so "/./\evil.example" would leave as "/\evil.example", which browsers read
// as another site. localPath cleans the path the same way, checks the
// result, and returns that result, so what was checked is what is sent.
// It refuses outright what no link on this site holds but attacks use:
// backslashes, control characters, spaces and non-ASCII bytes anywhere, and
// in the path percent-encoded slashes, backslashes, percent signs and
// control characters, which a browser or a server behind us might decode.
func localPath(next string) string {
	if next == "" || len(next) > maxNextLen || next[0] != '/' || strings.HasPrefix(next, "//") {
		return ""
	}
	for i := 0; i < len(next); i++ {
		// Browsers drop tabs and newlines from URLs and read "\" as "/":
		// "/\t/x" and "/\x" both become "//x".
		if b := next[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return ""
		}
	}
	p, query, hasQuery := strings.Cut(next, "?")
	dec, err := url.PathUnescape(p)
	if err != nil || strings.Count(dec, "/") != strings.Count(p, "/") || strings.ContainsAny(dec, `\%`) {
		return ""
	}
	for i := 0; i < len(dec); i++ {
		if b := dec[i]; b < ' ' || b == 0x7f {
			return ""
		}
	}
	// Clean as net/http's Redirect does, keeping a trailing slash.
	cleaned := path.Clean(p)
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(cleaned, "/") {
		cleaned += "/"
	}
	if hasQuery {
		cleaned += "?" + query
	}
	if len(cleaned) > 1 && (cleaned[1] == '/' || cleaned[1] == '\\') {
		return ""
	}
	u, err := url.Parse(cleaned)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return cleaned
}
