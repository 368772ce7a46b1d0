package campaigns

import (
	"crypto/rand"
	"net/url"
	"strings"
)

// ShareCodeLen is how many characters a signer's share code has: 50 random
// bits, so that nobody can go through the codes of a cause to find whose
// link brought whom.
const ShareCodeLen = 10

// shareAlphabet is the 32 characters of share codes: lower-case letters and
// digits without l, o, 0 and 1, which read alike when a link is copied by
// hand.
const shareAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// NewShareCode returns a new random share code: the code of a signer's
// personal link, /c/{slug}?ref=CODE.
func NewShareCode() string {
	var b [ShareCodeLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	for i, v := range b {
		b[i] = shareAlphabet[v&31]
	}
	return string(b[:])
}

// ShareLink returns a signer's personal link to a cause: the cause's
// address with their share code, which brings the people who sign through
// it to the signer's count. baseURL is Rally's own (RALLY_BASE_URL). An
// empty code gives the cause's plain address.
func ShareLink(baseURL, slug, code string) string {
	u := strings.TrimRight(baseURL, "/") + "/c/" + slug
	if code != "" {
		u += "?ref=" + url.QueryEscape(code)
	}
	return u
}

// MaxSource is the longest channel name a signature keeps.
const MaxSource = 32

// sourceName returns the channel named by s (utm_source, or the sign form's
// source field) as a signature keeps it: lower-cased, letters, digits, '-',
// '_' and '.', at most MaxSource of them; "" for anything else, which says
// nothing to count by.
func sourceName(s string) string {
	if len(s) > MaxSource {
		return ""
	}
	s = strings.ToLower(s)
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return ""
	}
	return s
}

// The channels Rally's own pages name in the links they make.
const (
	// SourceLink is a personal link that came with no channel: copied and
	// passed on by hand.
	SourceLink = "link"
	// SourceQR is the QR code, on the poster or elsewhere.
	SourceQR = "qr"
	// SourceEmbed is the sign form embedded in another site.
	SourceEmbed = "embed"
	// SourceShare is the browser's own share sheet (Web Share API).
	SourceShare = "share"
)

// shareURL is a link to share, the cause's or a signer's personal one.
type shareURL string

// For returns the link as shared through the given channel: with its
// utm_source, which the cause page passes into the sign form.
func (u shareURL) For(source string) string {
	s := string(u)
	if source == "" {
		return s
	}
	if strings.Contains(s, "?") {
		return s + "&utm_source=" + source
	}
	return s + "?utm_source=" + source
}

// String returns the link itself.
func (u shareURL) String() string { return string(u) }
