package notify

import (
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fast path never accepts what net/mail would refuse or read back
// differently: on every case, ValidAddress agrees with net/mail.
func TestValidAddressAgreesWithNetMail(t *testing.T) {
	cases := []string{"ada@example.org", "Ada.Lovelace+petition@gmail.com", "o'brien@example.ie", "a!#$%&'*+-/=?^_`{|}~z@x.y",
		"x@localhost", "", "@example.org", "ada@", "ada@@example.org", "a@b@c", ".ada@example.org", "ada.@example.org",
		"a..b@example.org", "ada@example..org", "ada@.example.org", "ada@example.org.", "Ada <ada@example.org>",
		"<ada@example.org>", "ada @example.org", "ada@exa mple.org", "\"quoted\"@example.org", "ada@[127.0.0.1]",
		"zoë@example.org", "ada@exämple.org", "ada(comment)@example.org", "ada@example.org,bob@example.org",
		"ada\x00@example.org", "ada\r\n@example.org", "ada;@example.org", "a\\b@example.org"}
	for _, s := range cases {
		a, err := mail.ParseAddress(s)
		want := err == nil && a.Name == "" && a.Address == s
		if got := ValidAddress(s); got != want {
			t.Errorf("ValidAddress(%q) = %v, net/mail says %v", s, got, want)
		}
		if dotAtomAddress(s) && !want {
			t.Errorf("fast path accepts %q, which net/mail does not read back as itself", s)
		}
	}
}

// An international domain typed in Unicode, in punycode, or with its
// accent as a separate combining mark is one address: one stored form
// (punycode domain), one key.
func TestNormalizeEmailInternationalForms(t *testing.T) {
	tests := []struct{ name, in, norm, key string }{
		{"unicode domain", "user@exämple.com", "user@xn--exmple-cua.com", "user@xn--exmple-cua.com"},
		{"punycode domain", "user@xn--exmple-cua.com", "user@xn--exmple-cua.com", "user@xn--exmple-cua.com"},
		{"decomposed domain", "user@exa\u0308mple.com", "user@xn--exmple-cua.com", "user@xn--exmple-cua.com"},
		{"upper-case unicode domain", "User@EXÄMPLE.COM", "User@xn--exmple-cua.com", "user@xn--exmple-cua.com"},
		{"upper-case punycode", "user@XN--EXMPLE-CUA.COM", "user@xn--exmple-cua.com", "user@xn--exmple-cua.com"},
		{"full-width domain", "user@ｅｘａｍｐｌｅ.com", "user@example.com", "user@example.com"},
		{"ideographic full stop", "user@example。com", "user@example.com", "user@example.com"},
		{"decomposed local part", "Zoe\u0308@example.org", "Zoë@example.org", "zoë@example.org"},
		{"composed local part", "zoë+petition@example.org", "zoë+petition@example.org", "zoë@example.org"},
		{"ascii", " Ada.Lovelace+x@Gmail.COM ", "Ada.Lovelace+x@gmail.com", "adalovelace@gmail.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := NormalizeEmail(tt.in)
			if err != nil || n != tt.norm {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, n, err, tt.norm)
			}
			if k := EmailKey(n); k != tt.key {
				t.Errorf("EmailKey(%q) = %q, want %q", n, k, tt.key)
			}
			// A caller that skips normalising still gets the same key.
			if k := EmailKey(strings.TrimSpace(tt.in)); k != tt.key {
				t.Errorf("EmailKey(%q) (not normalised) = %q, want %q", tt.in, k, tt.key)
			}
		})
	}
	if got, want := DisplayEmail("user@xn--exmple-cua.com"), "user@exämple.com"; got != want {
		t.Errorf("DisplayEmail = %q, want %q", got, want)
	}
}

// Addresses mail cannot be delivered to, or that hide what they are, are
// refused.
func TestNormalizeEmailRefusesUndeliverable(t *testing.T) {
	local64, label63 := strings.Repeat("a", 64), strings.Repeat("b", 63)
	// long is "a@" and a domain of labels of 63, n octets in all.
	long := func(n int) string {
		d := strings.Repeat(label63+".", 3)
		return "a@" + d + strings.Repeat("c", n-2-len(d)-4) + ".org"
	}
	// 32 e-acutes are 96 octets decomposed, 64 once composed (NFC).
	for _, ok := range []string{local64 + "@example.org", strings.Repeat("e\u0301", 32) + "@example.org",
		"a@" + label63 + ".org", long(254)} {
		if _, err := NormalizeEmail(ok); err != nil {
			t.Errorf("NormalizeEmail(%q) refused an address at the limits: %v", ok, err)
		}
	}
	tests := map[string]string{
		"local part of 65 octets":       local64 + "a@example.org",
		"local part of 65 octets (NFC)": strings.Repeat("é", 32) + "a@example.org",
		"label of 64":                   "a@" + label63 + "b.org",
		"address of 255":                long(255),
		"ip literal":                    "user@[1.2.3.4]",
		"ipv6 literal":                  "user@[IPv6:::1]",
		"bare ip":                       "user@1.2.3.4",
		"numeric top-level":             "user@example.123",
		"single label":                  "user@localhost",
		"single unicode label":          "user@exämple",
		"trailing dot":                  "user@example.org.",
		"empty label":                   "user@example..org",
		"hyphen at a label's start":     "user@-example.org",
		"underscore":                    "user@ex_ample.org",
		"bad punycode":                  "user@xn--zz.org",
		"right-to-left override":        "user\u202E@example.org",
		"override in domain":            "user@exa\u202Emple.org",
		"isolate":                       "\u2066user@example.org",
		"zero-width space":              "us\u200Ber@example.org",
		"no-break space":                "user\u00A0@example.org",
		"invalid utf-8":                 "us\xffer@example.org",
		"empty":                         "",
		"no at":                         "nobody",
		"display name":                  "Ada <ada@example.org>",
		"two addresses":                 "a@example.org,b@example.org",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if n, err := NormalizeEmail(in); err == nil {
				t.Errorf("NormalizeEmail(%q) = %q, want it refused", in, n)
			}
		})
	}
}

// Bidirectional controls leave names; every other character stays as
// typed.
func TestStripBidiControls(t *testing.T) {
	for in, want := range map[string]string{
		"Ada Lovelace":       "Ada Lovelace",
		"Ada \u202Eecalevol": "Ada ecalevol",
		"\u2066Zoë\u2069 \u202A\u202B\u202C\u202D": "Zoë ",
		"محمد \u200F": "محمد \u200F", // a right-to-left mark only marks; it stays
	} {
		if got := StripBidiControls(in); got != want {
			t.Errorf("StripBidiControls(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzEmailKey: whatever is typed in an email field, normalising never
// panics, a normalised address has exactly one @ and normalises to itself,
// and its comparison key is lower-case, its own key, and the same however
// the address was spaced or (in ASCII) capitalised.
func FuzzEmailKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, typed string) {
		n, err := NormalizeEmail(typed)
		if err != nil {
			if n != "" {
				t.Errorf("NormalizeEmail(%q) = %q with error %v", typed, n, err)
			}
			return
		}
		if strings.Count(n, "@") != 1 {
			t.Errorf("NormalizeEmail(%q) = %q: not exactly one @", typed, n)
		}
		if again, err := NormalizeEmail(n); err != nil || again != n {
			t.Errorf("NormalizeEmail(%q) = %q, but that normalises to %q, %v", typed, n, again, err)
		}
		if spaced, err := NormalizeEmail(" \t" + typed + " \n"); err != nil || spaced != n {
			t.Errorf("NormalizeEmail of %q with spaces around = %q, %v; want %q", typed, spaced, err, n)
		}
		key := EmailKey(n)
		if strings.ToLower(key) != key {
			t.Errorf("EmailKey(%q) = %q: not lower-case", n, key)
		}
		if strings.Count(key, "@") != 1 || strings.HasPrefix(key, "@") || strings.HasSuffix(key, "@") {
			t.Errorf("EmailKey(%q) = %q: not a local part and a domain", n, key)
		}
		if again := EmailKey(key); again != key {
			t.Errorf("EmailKey(%q) = %q, but EmailKey of that = %q", n, key, again)
		}
		if isASCII(typed) {
			if up, err := NormalizeEmail(strings.ToUpper(typed)); err != nil || EmailKey(up) != key {
				t.Errorf("%q in capitals: key %q, %v; want %q", typed, EmailKey(up), err, key)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
