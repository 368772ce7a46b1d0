package campaigns

import "unicode/utf8"

// appendJSONString appends s to b as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	return append(appendJSONChars(append(b, '"'), s), '"')
}

// appendJSONChars appends s to b escaped for the inside of a JSON string.
// Invalid UTF-8 becomes U+FFFD, as encoding/json would make it.
func appendJSONChars(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// mailField is one entry of a signing mail's data: its value is the
// concatenation of the parts, so a URL need not be built first.
type mailField struct {
	key   string
	parts []string
}

// mailData encodes a signing mail's data as a JSON object of strings.
func mailData(fields ...mailField) string {
	n := 2
	for _, f := range fields {
		n += len(f.key) + 6
		for _, p := range f.parts {
			n += len(p) + len(p)/8 // and room for a little escaping
		}
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.key)
		b = append(b, ':', '"')
		for _, p := range f.parts {
			b = appendJSONChars(b, p)
		}
		b = append(b, '"')
	}
	return string(append(b, '}'))
}
