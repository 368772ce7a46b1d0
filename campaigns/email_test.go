package campaigns

import (
	"context"
	"strings"
	"testing"
)

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
