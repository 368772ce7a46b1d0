package notify

import "net/mail"

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
