package notify

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// ValidAddress reports whether s is a bare email address (no display name,
// no angle brackets) that net/mail reads back as exactly s. The common
// form, plain ASCII local@domain, is checked without net/mail's parser,
// which costs more than the rest of a signing's checks together; anything
// else is left to the parser.
func ValidAddress(s string) bool {
	if dotAtomAddress(s) {
		return true
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// dotAtomAddress reports whether s is local@domain with both parts RFC 5322
// dot-atoms of ASCII atext: a form net/mail always accepts as it is.
func dotAtomAddress(s string) bool {
	at := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	return at > 0 && dotAtom(s[:at]) && dotAtom(s[at+1:])
}

func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case c < 0x80 && containsByte("!#$%&'*+-/=?^_`{|}~", c):
		default:
			return false
		}
	}
	return true
}

func containsByte(set string, c byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}

// ErrInvalidEmail is returned for text that is not a usable email address.
var ErrInvalidEmail = errors.New("invalid email address")

// Limits of a deliverable address, in octets (RFC 5321 §4.5.3.1, and its
// errata for the whole address in a forward path).
const (
	maxLocalPart = 64
	maxLabel     = 63
	maxAddress   = 254
)

// NormalizeEmail returns the form of an address that Rally keeps and sends
// mail to, or ErrInvalidEmail for anything that is not a single bare address
// mail can be delivered to.
//
// The local part is kept as typed (so mail reaches the mailbox the person
// named), in Unicode NFC. The domain is kept in its ASCII form, lower-cased:
// an internationalised domain becomes its IDNA (punycode) A-labels, through
// the UTS 46 lookup mapping, which also folds case, width and the other
// spellings of the same name. That form, rather than the Unicode one, is
// what mail goes to: a Unicode domain needs SMTPUTF8 at every hop, which no
// configured relay is guaranteed to offer, while every mail server accepts
// an A-label. DisplayEmail gives the Unicode form back for a page that shows
// people their own address.
//
// Refused: a local part over 64 octets, a domain label over 63, a whole
// address over 254; IP literals (user@[1.2.3.4]) and IP addresses as domains;
// domains of one label; and control, format (among them the bidirectional
// overrides and isolates) and space characters anywhere, which can only
// hide what an address really is.
//
// Plain ASCII, the common case, does no Unicode work.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	// Four octets a character at most: anything longer cannot fit once
	// normalised, and is refused before any Unicode work.
	if s == "" || len(s) > 4*maxAddress || strings.ContainsAny(s, " \t\r\n<>,;\"()") {
		return "", ErrInvalidEmail
	}
	if !asciiOnly(s) {
		if !utf8.ValidString(s) || strings.IndexFunc(s, hiddenInAddress) >= 0 {
			return "", ErrInvalidEmail
		}
		s = norm.NFC.String(s)
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > maxLocalPart {
		return "", ErrInvalidEmail
	}
	domain, ok := mailDomain(s[at+1:])
	if !ok {
		return "", ErrInvalidEmail
	}
	addr := s
	if domain != s[at+1:] {
		addr = s[:at+1] + domain
	}
	if len(addr) > maxAddress || !ValidAddress(addr) {
		return "", ErrInvalidEmail
	}
	return addr, nil
}

// mailDomain returns the ASCII, lower-case form of an address's domain, and
// whether mail can be sent to it: a host name of at least two labels, each
// of letters, digits and inner hyphens, the last not all digits (so no IP
// address).
func mailDomain(d string) (string, bool) {
	if d == "" || d[0] == '[' {
		return "", false
	}
	if asciiOnly(d) {
		d = strings.ToLower(d)
		if !strings.Contains(d, "xn--") {
			return d, hostName(d)
		}
	}
	// A Unicode name, or A-labels that must decode to a valid one: the
	// lookup profile maps it to its one ASCII form or refuses it.
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", false
	}
	return a, hostName(a)
}

// hostName reports whether d, in lower case, is a host name mail can be
// sent to (see mailDomain).
func hostName(d string) bool {
	if len(d) > maxAddress-2 {
		return false
	}
	labels, start, digits := 0, 0, true
	for i := 0; i < len(d); i++ {
		switch c := d[i]; {
		case c == '.':
			if !label(d[start:i]) {
				return false
			}
			labels++
			start, digits = i+1, true
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c == '-':
			digits = false
		default:
			return false
		}
	}
	// An all-digit top-level name is an IP address (or part of one), never
	// a domain.
	return labels >= 1 && label(d[start:]) && !digits
}

// label reports whether a host name's label has a length DNS allows and no
// hyphen at either end.
func label(s string) bool {
	return len(s) > 0 && len(s) <= maxLabel && s[0] != '-' && s[len(s)-1] != '-'
}

// hiddenInAddress reports whether r has no place in an address: control
// and format characters (the bidirectional controls among them) and spaces
// of any kind.
func hiddenInAddress(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r)
}

// isBidiControl reports whether r is one of the bidirectional embedding,
// override and isolate controls, which reorder the text around them on
// screen: U+202A–U+202E and U+2066–U+2069.
func isBidiControl(r rune) bool {
	return r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069'
}

// StripBidiControls returns s without its bidirectional embedding, override
// and isolate controls, and otherwise as it is. A name keeps every other
// character as typed, but one of these would turn the text that follows it
// around wherever the name is shown.
func StripBidiControls(s string) string {
	if asciiOnly(s) || strings.IndexFunc(s, isBidiControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isBidiControl(r) {
			return -1
		}
		return r
	}, s)
}

func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// DisplayEmail returns a normalised address as its owner would write it:
// the domain's A-labels shown in Unicode. It is for pages that show people
// their own address; mail goes to the normalised form.
func DisplayEmail(normalized string) string {
	at := strings.LastIndexByte(normalized, '@')
	if at < 0 || !strings.Contains(normalized[at+1:], "xn--") {
		return normalized
	}
	u, err := idna.Lookup.ToUnicode(normalized[at+1:])
	if err != nil {
		return normalized
	}
	return normalized[:at+1] + u
}

// EmailKey returns the comparison key of a normalised address: lower-cased,
// any +tag removed, and for gmail.com/googlemail.com the local part's dots
// removed (and googlemail.com folded into gmail.com). Two addresses with the
// same key reach the same inbox. The key's domain is the ASCII (punycode)
// one, so an international domain typed in Unicode, in punycode, or in
// another Unicode form of the same name gives one key; an address that was
// not normalised is normalised first, so its key is the same too.
func EmailKey(normalized string) string {
	s := normalized
	if asciiOnly(s) {
		s = strings.ToLower(s)
	} else {
		if n, err := NormalizeEmail(s); err == nil {
			s = n
		}
		// Lower-casing can undo NFC in rare cases: compose again, so a
		// key is its own key.
		s = strings.ToLower(s)
		if utf8.ValidString(s) {
			s = norm.NFC.String(s)
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	local, domain := s[:at], s[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		local = strings.ReplaceAll(local, ".", "")
		domain = "gmail.com"
	}
	return local + "@" + domain
}
