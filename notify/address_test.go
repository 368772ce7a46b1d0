package notify

import (
	"net/mail"
	"testing"
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
