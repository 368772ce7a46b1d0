package campaigns

import (
	"context"
	"testing"
)

// SignatureStates tells a signed address from a confirmed one and from one
// that never signed, finds an address however it was typed, and keeps to
// the cause asked about.
func TestSignatureStates(t *testing.T) {
	s, _, c := newTestStore(t)
	ctx := context.Background()
	other, err := s.CreateCause(ctx, c.OrganiserID, CauseInput{Title: "Other", Summary: "s", Target: "t", Goal: 10, Lang: "en"}, "")
	if err != nil {
		t.Fatal(err)
	}
	pending, confirmed := testSigning(c, "pending@example.org"), testSigning(c, "confirmed@example.org")
	for _, sg := range []*Signing{pending, confirmed, testSigning(other, "elsewhere@example.org")} {
		if _, err := s.Sign(ctx, sg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Confirm(ctx, confirmed.Token); err != nil {
		t.Fatal(err)
	}
	asked := []string{"pending@example.org", "Confirmed@Example.org", "never@example.org", "elsewhere@example.org"}
	got, err := s.SignatureStates(ctx, c.ID, asked)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]SignatureState{
		"pending@example.org":   {Signed: true},
		"Confirmed@Example.org": {Signed: true, Confirmed: true},
		"never@example.org":     {},
		"elsewhere@example.org": {},
	}
	for _, e := range asked {
		if got[e] != want[e] {
			t.Errorf("%s: %+v, want %+v", e, got[e], want[e])
		}
	}
}
