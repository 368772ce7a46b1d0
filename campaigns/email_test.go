package campaigns

import (
	"context"
	"strings"
	"testing"
)

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

// The three forms of one international address sign a cause once: once
// the first is confirmed, the other two get the "already signed" path,
// and the count stays at one.
func TestInternationalFormsSignOnce(t *testing.T) {
	s, w, c := newTestStore(t)
	ctx := context.Background()
	first := testSigning(c, "user@exämple.com")
	if got, err := s.Sign(ctx, first); err != nil || got != SignedNew {
		t.Fatalf("first signing = %v, %v; want SignedNew", got, err)
	}
	if _, err := s.Confirm(ctx, first.Token); err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{"user@xn--exmple-cua.com", "user@exa\u0308mple.com"} {
		if got, err := s.Sign(ctx, testSigning(c, form)); err != nil || got != SignedAgainConfirmed {
			t.Errorf("signing as %q = %v, %v; want SignedAgainConfirmed", form, got, err)
		}
	}
	if got, _ := s.FindCauseByID(ctx, c.ID); got.SignatureCount != 1 {
		t.Errorf("count = %d, want 1", got.SignatureCount)
	}
	if got, want := strings.Join(outboxKinds(t, w), ","), "new,again_confirmed,again_confirmed"; got != want {
		t.Errorf("mails = %s, want %s", got, want)
	}
	var to string
	if err := w.QueryRow(`SELECT to_addr FROM outbox ORDER BY id LIMIT 1`).Scan(&to); err != nil || to != "user@xn--exmple-cua.com" {
		t.Errorf("first mail to %q, %v; want the punycode domain", to, err)
	}
}
