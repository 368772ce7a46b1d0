package campaigns

import (
	"errors"
	"strings"

	"github.com/rallyhq/rally/notify"
)

// ErrInvalidEmail is returned for text that is not a usable email address.
var ErrInvalidEmail = errors.New("invalid email address")

// NormalizeEmail trims s and lower-cases its domain, keeping the local part as
// typed (it is what mail is sent to). It refuses anything that is not a single
// bare address of at most 254 characters.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;\"()") {
		return "", ErrInvalidEmail
	}
	if !notify.ValidAddress(s) {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", ErrInvalidEmail
	}
	return local + "@" + domain, nil
}

// EmailKey returns the comparison key of a normalised address: lower-cased,
// any +tag removed, and for gmail.com/googlemail.com the local part's dots
// removed (and googlemail.com folded into gmail.com). Two addresses with the
// same key reach the same inbox.
func EmailKey(normalized string) string {
	s := strings.ToLower(normalized)
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
