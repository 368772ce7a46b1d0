package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
)

// tokenKind says what a signed link is for. Each kind has a key of its own
// (derived from the secret), and the kind is signed with the rest, so a
// token made for one purpose is refused for any other: an unsubscribe
// token never counts as a click, a click token never unsubscribes.
type tokenKind byte

const (
	clickToken tokenKind = 'c' // GET /t/{token}: a tracked link, then a redirect
	openToken  tokenKind = 'o' // GET /t/{token}: the open-tracking image
	unsubToken tokenKind = 'u' // GET, POST /u/{token}
)

// macSize is how many bytes of the HMAC-SHA256 a token carries: 128 bits,
// beyond any guessing over HTTP.
const macSize = 16

// linkToken is what a signed link names: a blast, one of its deliveries (0
// for a test mail to the organiser) and, for a click, the link's index in
// the blast's links.
type linkToken struct {
	kind     tokenKind
	blast    int64
	delivery int64
	link     int
}

// Tokens makes and checks the signed links of blasts, keyed by
// RALLY_SECRET.
type Tokens struct {
	keys map[tokenKind][]byte
}

// NewTokens derives a key per kind of link from secret.
func NewTokens(secret []byte) *Tokens {
	t := &Tokens{keys: map[tokenKind][]byte{}}
	for _, k := range []tokenKind{clickToken, openToken, unsubToken} {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("rally blast link v1 "))
		m.Write([]byte{byte(k)})
		t.keys[k] = m.Sum(nil)
	}
	return t
}

// make returns the token for l: its kind, the numbers as uvarints and the
// MAC over all of them, in unpadded base64url.
func (t *Tokens) make(l linkToken) string {
	var buf [1 + 3*binary.MaxVarintLen64 + macSize]byte
	b := append(buf[:0], byte(l.kind))
	b = binary.AppendUvarint(b, uint64(l.blast))
	b = binary.AppendUvarint(b, uint64(l.delivery))
	if l.kind == clickToken {
		b = binary.AppendUvarint(b, uint64(l.link))
	}
	m := hmac.New(sha256.New, t.keys[l.kind])
	m.Write(b)
	b = m.Sum(b)[:len(b)+macSize]
	return base64.RawURLEncoding.EncodeToString(b)
}

// parse checks s as a token of the given kind and returns what it names;
// ok is false for anything else (tampered, truncated, another kind).
func (t *Tokens) parse(kind tokenKind, s string) (linkToken, bool) {
	if len(s) > 64 {
		return linkToken{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1+macSize || tokenKind(b[0]) != kind {
		return linkToken{}, false
	}
	body, mac := b[:len(b)-macSize], b[len(b)-macSize:]
	m := hmac.New(sha256.New, t.keys[kind])
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:macSize], mac) {
		return linkToken{}, false
	}
	l := linkToken{kind: kind}
	rest := body[1:]
	next := func() (int64, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<62 {
			return 0, false
		}
		rest = rest[n:]
		return int64(v), true
	}
	var ok bool
	if l.blast, ok = next(); !ok || l.blast == 0 {
		return linkToken{}, false
	}
	if l.delivery, ok = next(); !ok {
		return linkToken{}, false
	}
	if kind == clickToken {
		var link int64
		if link, ok = next(); !ok || link > 1<<16 {
			return linkToken{}, false
		}
		l.link = int(link)
	}
	if len(rest) != 0 {
		return linkToken{}, false
	}
	return l, true
}
